"""A real `alpr produce` pauses through a redis-server restart and goes on (Retry, no crash)."""
import json
import subprocess
import sys
import time

from alpr.keys import Keys
from testenv import subprocess_env
from redis_server import RedisServer


def test_producer_survives_redis_restart(tmp_path):
    import cv2
    import numpy as np
    import redis

    folder = tmp_path / "cam"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.full((48, 64, 3), 90, np.uint8))
    server = RedisServer().start()
    keys = Keys("alpr:")
    proc = subprocess.Popen(
        [sys.executable, "-m", "alpr", "produce", str(folder), "--redis-url", server.url,
         "--loop", "--fps", "20", "--frames", "80", "--camera", "rc", "--inflight-cap", "1000",
         "--json"], env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = redis.Redis.from_url(server.url)
        deadline = time.time() + 30
        while time.time() < deadline and not client.hget(keys.counts("rc"), "produced"):
            time.sleep(0.05)
        # down longer than the client's own retry budget (redis-py's Retry: REDIS_RETRIES
        # resends, 0.6 s), so the producer's MULTI resend (alpr.retry) must take over
        server.restart(down_s=3.0)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out.decode().strip().splitlines()[-1])
        assert summary["sent"] == 80
        after = int(client.hget(keys.counts("rc"), "produced") or 0)
        assert 0 < after < 80  # frames sent after the restart landed in the fresh Redis
        assert b"retrying with backoff" in err
    finally:
        if proc.poll() is None:
            proc.kill()
        server.cleanup()
