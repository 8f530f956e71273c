"""A real worker survives a redis-server restart mid-run: it reconnects and goes on."""
import subprocess
import sys

from alpr.keys import Keys
from testenv import subprocess_env
from redis_server import RedisServer
from worker_helpers import put_frames, results, wait_for

KEYS = Keys("alpr:")


def test_worker_reconnects_after_redis_restart(tmp_path):
    import redis

    server = RedisServer().start()
    log_path = str(tmp_path / "worker.log")
    proc = subprocess.Popen(
        [sys.executable, "-m", "alpr", "worker", "--redis-url", server.url, "--node", "rc1",
         "--engine", "null", "--heartbeat", "0.2"],
        env=subprocess_env(), stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    try:
        client = redis.Redis.from_url(server.url)
        assert wait_for(lambda: client.exists(KEYS.node_alive("rc1")), 60)
        before = put_frames(client, KEYS, 3)
        assert wait_for(lambda: set(before) <= set(results(client, KEYS)), 20)
        server.restart(down_s=1.0)  # no persistence: everything in Redis is gone
        assert wait_for(lambda: client.exists(KEYS.node_alive("rc1")), 10), open(log_path).read()
        after = put_frames(client, KEYS, 3)
        assert wait_for(lambda: set(after) <= set(results(client, KEYS)), 20), open(log_path).read()
        assert proc.poll() is None  # still running: nothing crashed
    finally:
        proc.terminate()
        proc.wait(20)
        server.cleanup()
    assert proc.returncode == 0
