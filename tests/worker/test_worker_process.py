"""The real `alpr worker` process: end to end, heartbeat, metrics, drain, refusals, SIGTERM."""
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np

from alpr.frame_store import FrameStore
from bench.procs import stop_popen
from alpr.keys import Keys
from testenv import subprocess_env
from redis_server import free_port
from worker_helpers import put_frames, queue_key, results, wait_for

KEYS = Keys("alpr:")


def start_worker(redis_url, tmp_path, node="n1", engine="null", extra=(), env=None):
    log = open(str(tmp_path / ("%s.log" % node)), "wb")
    args = [sys.executable, "-m", "alpr", "worker", "--redis-url", redis_url, "--node", node,
            "--engine", engine, "--heartbeat", "0.2"] + list(extra)
    return subprocess.Popen(args, env=subprocess_env(**(env or {})), stdout=log,
                            stderr=subprocess.STDOUT)


def log_text(tmp_path, node="n1"):
    with open(str(tmp_path / ("%s.log" % node)), "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def stop(proc, timeout=20):
    return stop_popen(proc, timeout)


def test_burst_worker_reads_every_frame(redis_client, redis_url, tmp_path):
    ids = put_frames(redis_client, KEYS, 25)
    proc = start_worker(redis_url, tmp_path, extra=["--burst"])
    assert proc.wait(60) == 0, log_text(tmp_path)
    recs = results(redis_client, KEYS)
    assert set(recs) == set(ids) and all(r.status == "read" for r in recs.values())
    acc = FrameStore(redis_client, KEYS).accounting("cam1")
    assert acc == {"produced": 25, "read": 25, "stale": 0, "dropped": 0, "failed": 0,
                   "in_flight": 0}


def test_heartbeat_metrics_drain_and_graceful_sigterm(redis_client, redis_url, tmp_path):
    port = free_port()
    proc = start_worker(redis_url, tmp_path, engine="sleep:0.4", extra=["--metrics-port", str(port)])
    try:
        assert wait_for(lambda: redis_client.exists(KEYS.node_alive("n1")), 60), log_text(tmp_path)
        assert 0 < redis_client.pttl(KEYS.node_alive("n1")) <= 600 * 3 + 1000
        assert redis_client.sismember(KEYS.nodes, "n1")
        stats = redis_client.hgetall(KEYS.node_stats("n1"))
        assert stats[b"engine"] == b"sleep:0.4" and b"fps" in stats

        # work arrives; the metrics endpoint shows it
        ids = put_frames(redis_client, KEYS, 2)
        assert wait_for(lambda: len(results(redis_client, KEYS)) == 2, 20)
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        text = body.decode()
        assert 'alpr_frames_total{status="read"} 2' in text
        assert 'alpr_stage_ms_count{stage="infer"} 2' in text
        assert wait_for(lambda: int(redis_client.hget(KEYS.node_stats("n1"), "frames")) == 2, 5)

        # drained: shared-queue work waits, the node's own queue is still served
        redis_client.sadd(KEYS.drained(), "n1")
        assert wait_for(lambda: redis_client.hget(KEYS.node_stats("n1"), "drained") == b"1", 10)
        time.sleep(1.2)  # the idle pop in flight when the drain landed times out (1 s)
        (shared,) = put_frames(redis_client, KEYS, 1)
        (own,) = put_frames(redis_client, KEYS, 1, queue=KEYS.node_queue("n1"))
        assert wait_for(lambda: own in results(redis_client, KEYS), 10)
        time.sleep(0.8)
        assert shared not in results(redis_client, KEYS)
        redis_client.srem(KEYS.drained(), "n1")
        assert wait_for(lambda: shared in results(redis_client, KEYS), 10)

        # SIGTERM mid-frame: the frames the node holds (this one and at most one claimed
        # ahead) finish, the rest stay queued, exit code 0
        more = put_frames(redis_client, KEYS, 4)
        assert wait_for(lambda: redis_client.hlen(KEYS.running("n1")) >= 1, 10)
        # into the 0.4 s frame (a SIGTERM between the dequeue's claim and the job's run is
        # tests/worker/test_dequeue_claim.py's case)
        time.sleep(0.15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log_text(tmp_path)
        recs = results(redis_client, KEYS)
        finished = [i for i in more if i in recs]
        assert len(finished) in (1, 2) and all(recs[i].status == "read" for i in finished)
        assert redis_client.hlen(KEYS.running("n1")) == 0
        # untouched, for another node
        assert redis_client.llen(queue_key(KEYS.queue("frames"))) == 4 - len(finished)
        assert not redis_client.exists(KEYS.node_alive("n1"))  # clean exit is not a death
        assert set(ids) <= set(recs)
    finally:
        stop(proc)


def test_refused_jobs_counted_and_worker_goes_on(redis_client, redis_url, tmp_path):
    from rq import Queue

    from alpr.job_serializer import MsgpackSerializer

    Queue(KEYS.queue("frames"), connection=redis_client).enqueue_call(
        "worker.jobs.process_frames", args=([["x", "cam1"]],))  # pickle payload
    Queue(KEYS.queue("frames"), connection=redis_client, serializer=MsgpackSerializer).enqueue_call(
        "builtins.eval", args=("1+1",))
    (good,) = put_frames(redis_client, KEYS, 1)
    proc = start_worker(redis_url, tmp_path, extra=["--burst"])
    assert proc.wait(60) == 0, log_text(tmp_path)
    security = {k.decode(): int(v) for k, v in redis_client.hgetall(KEYS.security).items()}
    assert security == {"refused_payload": 1, "refused_function": 1}
    assert results(redis_client, KEYS)[good].status == "read"
    assert "refused job" in log_text(tmp_path)


def test_bad_frames_and_stale_do_not_stop_the_worker(redis_client, redis_url, tmp_path):
    (bad,) = put_frames(redis_client, KEYS, 1)
    redis_client.set(KEYS.frame(bad), b"garbage")
    (old,) = put_frames(redis_client, KEYS, 1, ts=time.time() - 100, max_age=5.0)
    (good,) = put_frames(redis_client, KEYS, 1)
    proc = start_worker(redis_url, tmp_path, extra=["--burst"])
    assert proc.wait(60) == 0, log_text(tmp_path)
    recs = results(redis_client, KEYS)
    assert (recs[bad].status, recs[old].status, recs[good].status) == ("failed", "stale", "read")
    assert FrameStore(redis_client, KEYS).counts("cam1")["failed:bad_frame"] == 1


def test_real_pipeline_on_a_generated_plate(redis_client, redis_url, tmp_path):
    """When the engines' pipeline is installed, the worker reads a real plate through it."""
    import pytest

    try:
        import engines.models
        import cv2
        from evaluation.scenes import generate_scene, scene_rng
    except ImportError as exc:
        pytest.skip("recognition pipeline not available here: %s" % exc)
    from alpr.errors import ModelError
    from alpr.settings import Settings

    try:
        engines.models.build_pipeline(Settings())
    except ModelError as exc:  # e.g. ORT 1.10 on 3.6 needs `alpr models prepare` first
        pytest.skip("default models do not load in this environment: %s" % str(exc)[:200])
    image, text, _ = generate_scene(scene_rng(7, 1))  # a Mercosul car (scene 0: a two-line moto plate)
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    (fid,) = put_frames(redis_client, KEYS, 1, data=buf.tobytes(), truth=[text], max_age=120)
    (private,) = put_frames(redis_client, KEYS, 1, camera="lobby", data=buf.tobytes(),
                            truth=[text], max_age=120)
    proc = start_worker(redis_url, tmp_path, engine="pipeline", extra=["--burst"],
                        env={"ALPR_EVIDENCE_PRIVATE_CAMERAS": "lobby",
                             "ALPR_EVIDENCE_FRAME_WIDTH": "320", "ALPR_MAX_FRAME_AGE_S": "120"})
    assert proc.wait(180) == 0, log_text(tmp_path)
    recs = results(redis_client, KEYS)
    rec = recs[fid]
    assert rec.status == "read", rec.reason
    assert text in [r["text"] for r in rec.reads], (text, rec.reads)
    # the record carries no pictures: they wait under their own key for the frame's max age
    from alpr.protocol import join_evidence

    assert rec.evidence_apart and "crop" not in rec.reads[0]
    assert 0 < redis_client.pttl(KEYS.evidence(fid)) <= 120000
    assert join_evidence(rec, redis_client.get(KEYS.evidence(fid)))
    # evidence: a small JPEG of each plate and the frame at the configured width
    crop = cv2.imdecode(np.frombuffer(rec.reads[0]["crop"], np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape[1] == 160 and len(rec.reads[0]["crop"]) < 15000
    snap = cv2.imdecode(np.frombuffer(rec.frame_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape[1] == 320 and abs(rec.frame_scale - 320.0 / image.shape[1]) < 1e-6
    # a private camera's reads carry no pictures
    assert recs[private].reads and not recs[private].evidence_apart
    assert redis_client.get(KEYS.evidence(private)) is None


def test_sigterm_closes_the_engine_after_the_last_frame(redis_client, redis_url, tmp_path):
    """The worker frees its engine's runtimes on the way out, SIGTERM included (a pycuda
    context left on the stack aborts the process at exit)."""
    import pytest

    try:
        import engines.models
        from alpr.errors import ModelError
        from alpr.settings import Settings

        engines.models.build_pipeline(Settings())
        engine, closed = "pipeline", r"engine pipeline closed: (\d+)/\1 runtimes closed"
    except (ImportError, ModelError):  # no models here: the null engine's close still runs
        engine, closed = "null", r"engine null closed"
    proc = start_worker(redis_url, tmp_path, engine=engine)
    try:
        assert wait_for(lambda: redis_client.exists(KEYS.node_alive("n1")), 120), log_text(tmp_path)
        (fid,) = put_frames(redis_client, KEYS, 1)
        assert wait_for(lambda: fid in results(redis_client, KEYS), 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log_text(tmp_path)
    finally:
        stop(proc)
    import re

    text = log_text(tmp_path)
    found = re.search(closed, text)
    assert found, text[-2000:]
    assert text.index("worker n1 stopped after 1 frames") < found.start()  # no frame left
    if engine != "pipeline":
        pytest.skip("closed the null engine only: the recognition models are not here")
