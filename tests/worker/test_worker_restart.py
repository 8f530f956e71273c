"""A worker SIGKILLed mid-frame and restarted at once under the same node name recovers its frame."""
import signal
import subprocess
import sys
import threading
import time

from alpr.keys import Keys
from testenv import subprocess_env
from worker.node import predecessor_gone
from worker_helpers import put_frames, results, wait_for

KEYS = Keys("alpr:")


def _worker(redis_url, engine, log_path):
    return subprocess.Popen(
        [sys.executable, "-m", "alpr", "worker", "--redis-url", redis_url, "--node", "rk1",
         "--engine", engine, "--heartbeat", "0.5", "--no-node-queue"],
        env=subprocess_env(), stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)


def test_restart_under_same_name_recovers_the_killed_frame(redis_client, redis_url, tmp_path):
    log_path = str(tmp_path / "worker.log")
    first = _worker(redis_url, "sleep:30", log_path)
    second = None
    try:
        assert wait_for(lambda: redis_client.exists(KEYS.node_alive("rk1")), 60), open(log_path).read()
        (fid,) = put_frames(redis_client, KEYS, 1)
        assert wait_for(lambda: redis_client.hexists(KEYS.running("rk1"), fid), 20)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert redis_client.exists(KEYS.node_alive("rk1"))  # the dead process's key still lives
        second = _worker(redis_url, "null", log_path)
        got = wait_for(lambda: results(redis_client, KEYS).get(fid), 30)
        assert got is not None, open(log_path).read()
        assert got.status == "read" and got.node == "rk1"
        assert redis_client.zcard(KEYS.inflight("cam1")) == 0
        assert redis_client.hlen(KEYS.running("rk1")) == 0
        assert "re-queued 1" in open(log_path).read()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)


def test_predecessor_gone_waits_out_a_dead_token_but_not_a_live_one(redis_client):
    key = KEYS.node_alive("p1")
    redis_client.set(key, "111.dead", px=400)
    started = time.time()
    assert predecessor_gone(redis_client, KEYS, "p1", "222.me", 3000, poll_s=0.05)
    assert 0.2 < time.time() - started < 2.0  # waited for the lapse, not the full 3 s
    stop = threading.Event()

    def live():  # another process beating under the same name
        while not stop.is_set():
            redis_client.set(key, "333.live", px=300)
            time.sleep(0.05)

    beater = threading.Thread(target=live, daemon=True)
    beater.start()
    try:
        time.sleep(0.1)
        assert not predecessor_gone(redis_client, KEYS, "p1", "222.me", 3000, poll_s=0.05)
    finally:
        stop.set()
        beater.join(2)
    redis_client.set(key, "222.me", px=5000)
    assert predecessor_gone(redis_client, KEYS, "p1", "222.me", 3000)  # our own key
