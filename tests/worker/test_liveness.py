"""Liveness means progress: a stuck engine stops the node's heartbeat; the job timeout stops a job.

Real `alpr worker` processes on a real redis-server: the `hang` engine blocks inside a frame
with SIGALRM masked (as a stuck CUDA / ONNX Runtime call does); `sleep:3` under a 1 s job
timeout is a slow call SIGALRM can stop.
"""
import os
import signal
import subprocess
import sys
import time

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from testenv import subprocess_env
from worker.heartbeat import Heartbeat
from worker.liveness import EngineWatch, ProgressFile
from worker_helpers import put_frames, results, wait_for

KEYS = Keys("alpr:")


def start(redis_url, tmp_path, engine, node="n1", **env):
    log = open(str(tmp_path / ("%s.log" % node)), "wb")
    args = [sys.executable, "-m", "alpr", "worker", "--redis-url", redis_url, "--node", node,
            "--engine", engine, "--heartbeat", "0.2", "--no-node-queue"]
    return subprocess.Popen(args, env=subprocess_env(**env), stdout=log, stderr=subprocess.STDOUT)


def log_text(tmp_path, node="n1"):
    with open(str(tmp_path / ("%s.log" % node)), "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def finish(proc):
    if proc.poll() is None:
        proc.kill()  # a hung worker does not finish its frame on SIGTERM: that is the point
    proc.wait(10)


def test_engine_watch_names_the_stuck_call():
    now = [100.0]
    watch = EngineWatch(2.0, clock=lambda: now[0])
    assert watch.stuck() is None
    with watch.call("f1"):
        now[0] += 1.9
        assert watch.stuck() is None
        now[0] += 0.2
        assert "f1" in watch.stuck()
    assert watch.stuck() is None  # the call returned: progress again


def test_hung_engine_withholds_heartbeat_and_progress(redis_client, redis_url, tmp_path):
    progress = str(tmp_path / "progress")
    proc = start(redis_url, tmp_path, "hang", ALPR_JOB_TIMEOUT_S=2, ALPR_PROGRESS_FILE=progress)
    try:
        assert wait_for(lambda: redis_client.exists(KEYS.node_alive("n1")), 60), log_text(tmp_path)
        assert wait_for(lambda: ProgressFile.age_s(progress) is not None, 5)
        (fid,) = put_frames(redis_client, KEYS, 1)
        assert wait_for(lambda: redis_client.hexists(KEYS.running("n1"), fid), 10)
        started = time.time()
        # the engine call passes the 2 s job timeout; 3 missed 0.2 s beats later the key lapses
        assert wait_for(lambda: not redis_client.exists(KEYS.node_alive("n1")), 8), \
            log_text(tmp_path)
        lapsed = time.time() - started
        stats = redis_client.hgetall(KEYS.node_stats("n1"))
        assert stats[b"state"] == b"stuck" and fid.encode() in stats[b"stuck"]
        time.sleep(1.0)
        assert ProgressFile.age_s(progress) >= 1.0  # the systemd watchdog stops its pings too
        assert proc.poll() is None and 2.0 <= lapsed < 5.0, lapsed
        assert "is stuck" in log_text(tmp_path)
    finally:
        finish(proc)


def test_job_timeout_stops_the_job_and_counts_timeout(redis_client, redis_url, tmp_path):
    ids = put_frames(redis_client, KEYS, 2)
    proc = start(redis_url, tmp_path, "sleep:3", ALPR_JOB_TIMEOUT_S=1)
    try:
        assert wait_for(lambda: len(results(redis_client, KEYS)) == 2, 30), log_text(tmp_path)
        recs = results(redis_client, KEYS)
        assert [recs[i].status for i in ids] == ["failed", "failed"]
        assert all(recs[i].reason.startswith("timeout:") for i in ids), \
            [recs[i].reason for i in ids]
        counts = FrameStore(redis_client, KEYS).counts("cam1")
        assert counts.get("failed:timeout") == 2 and "failed:engine" not in counts
        assert proc.poll() is None  # the worker goes on
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_progress_is_local_while_redis_is_down(tmp_path):
    """Redis unreachable: the heartbeat fails, but the engine is fine, so progress is touched
    (a watchdog restarting every worker while Redis is down would make an outage worse)."""
    import redis

    from redis_server import free_port

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    path = str(tmp_path / "progress")
    beat = Heartbeat(dead, KEYS, "n1", lambda: {}, lambda d: None, 0.1,
                     progress=ProgressFile(path))
    try:
        beat.beat()
    except redis.exceptions.ConnectionError:
        pass
    assert ProgressFile.age_s(path) is not None and ProgressFile.age_s(path) < 5
    os.utime(path, (time.time() - 60, time.time() - 60))
    stuck = Heartbeat(dead, KEYS, "n1", lambda: {}, lambda d: None, 0.1,
                      progress=ProgressFile(path), stuck=lambda: "engine call stuck")
    try:
        stuck.beat()
    except redis.exceptions.ConnectionError:
        pass
    assert ProgressFile.age_s(path) >= 59  # stuck: no touch
