"""rq >= 2: a single-queue worker dequeues with BLMOVE into `<queue>:intermediate`; the
fleet's fast path removes each job from there (RQ's own path does, ours skipped it), so
the list stays bounded instead of growing until RQ's 10-minute maintenance.

10,000 frames through a real `alpr worker --no-node-queue --batch-max 1` (every job
through RQ's dequeue) with the null engine, on the real redis-server.
"""
import subprocess
import sys
import threading
import time

import pytest
import rq

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from testenv import subprocess_env
from worker_helpers import put_frames, queue_key

FRAMES = 10000
KEYS = Keys("imq:")

pytestmark = pytest.mark.skipif(int(rq.__version__.split(".")[0]) < 2,
                                reason="rq < 2 dequeues with BLPOP: no intermediate list")


def test_intermediate_list_stays_bounded_over_10000_frames(redis_client, redis_url, tmp_path):
    from rq.queue import Queue

    shared = KEYS.queue("frames")
    started = time.time()
    put_frames(redis_client, KEYS, FRAMES, max_age=600)
    put_s = time.time() - started
    intermediate = Queue(shared, connection=redis_client).intermediate_queue_key
    assert intermediate == queue_key(shared) + ":intermediate"
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], int(redis_client.llen(intermediate)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log = open(str(tmp_path / "worker.log"), "wb")
    args = [sys.executable, "-m", "alpr", "worker", "--redis-url", redis_url, "--namespace",
            KEYS.ns, "--node", "imq", "--no-node-queue", "--engine", "null", "--batch-max", "1",
            "--burst"]
    started = time.time()
    proc = subprocess.Popen(args, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        assert proc.wait(300) == 0, open(str(tmp_path / "worker.log")).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        done.set()
        sampler.join(5)
    run_s = time.time() - started
    acc = FrameStore(redis_client, KEYS).accounting("cam1")
    assert acc["read"] == FRAMES and acc["in_flight"] == 0, acc
    left = int(redis_client.llen(intermediate))
    print("intermediate: peak %d, left %d over %d frames (put %.1f s, worker %.1f s)"
          % (peak[0], left, FRAMES, put_s, run_s))
    assert left == 0
    assert peak[0] <= 2  # the job in hand, at most one more being moved
