"""A node's frame path in-process on a real Redis (wired as `alpr worker` wires it: build_frame_path):
read, stale, bad frames, engine errors, draining."""
import time

import pytest

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope, encode_frame
from alpr.retry import Retry
from engines.types import FrameResult, PlateRead
from worker_helpers import put_frames, queue_key, results
from worker.frame_engines import NullEngine, SleepEngine, frame_engine_for
from worker.metrics import Metrics
from worker.node import build_frame_path

QKEY = queue_key("alpr:frames")


class fake_plate_engine(object):
    """Unit-test stand-in for the recognition pipeline: one fixed plate, or an error / exception."""

    def __init__(self, error=None, raises=False):
        self.error = error
        self.raises = raises

    def process(self, env):
        if self.raises:
            raise RuntimeError("CUDA went away")
        if self.error:
            return FrameResult(error=self.error)
        read = PlateRead(text="ABC1234", confidence=0.97, char_confidences=(0.99,) * 7,
                         region="us", box=(10, 20, 110, 60), det_score=0.9)
        return FrameResult(reads=[read], timings={"detect": 3.0, "ocr": 2.0})


def make_path(redis_client, engine, batch_max=8, queues=("alpr:node-n1", "alpr:frames")):
    """(the node's FramePath, store, keys) for node n1."""
    keys = Keys("alpr:")
    store = FrameStore(redis_client, keys)
    path = build_frame_path(redis_client, store, keys, engine, "n1", list(queues), "alpr:frames",
                            batch_max, Metrics(), Retry(retries=1, sleep=lambda s: None))
    return path, store, keys


def make(redis_client, engine, batch_max=8, queues=("alpr:node-n1", "alpr:frames")):
    path, store, keys = make_path(redis_client, engine, batch_max, queues)
    return path.processor, store, keys


def test_read_record_has_reads_timings_truth(redis_client):
    proc, store, keys = make(redis_client, fake_plate_engine())
    (fid,) = put_frames(redis_client, keys, 1, truth=["ABC1234"])
    assert proc.process_frame(fid, "cam1") == "read"
    rec = results(redis_client, keys)[fid]
    assert rec.status == "read" and rec.node == "n1" and rec.truth == ["ABC1234"]
    assert rec.reads[0]["text"] == "ABC1234" and rec.reads[0]["box"] == [10, 20, 110, 60]
    assert {"claim", "queue", "infer", "detect", "ocr", "total"} <= set(rec.timings)
    assert not redis_client.hlen(keys.running("n1"))
    assert store.accounting("cam1")["read"] == 1


def test_stale_when_old_or_expired_without_inference(redis_client):
    calls = []

    class counting(NullEngine):
        def process(self, env):
            calls.append(env.frame_id)
            return super().process(env)

    proc, store, keys = make(redis_client, counting())
    (old,) = put_frames(redis_client, keys, 1, ts=time.time() - 60, max_age=5.0)
    (gone,) = put_frames(redis_client, keys, 1)
    redis_client.delete(keys.frame(gone))  # the key expired before any worker took it
    assert proc.process_frame(old, "cam1") == "stale"
    assert proc.process_frame(gone, "cam1") == "stale"
    recs = results(redis_client, keys)
    assert recs[old].reason.startswith("expired: age") and recs[gone].reason.startswith("expired")
    assert calls == []
    assert store.accounting("cam1") == {"produced": 2, "read": 0, "stale": 2, "dropped": 0,
                                        "failed": 0, "in_flight": 0}


@pytest.mark.parametrize("engine,reason", [
    (fake_plate_engine(error="cannot decode image"), "failed:bad_image"),
    (fake_plate_engine(error="bad_image: truncated JPEG"), "failed:bad_image"),
    (fake_plate_engine(raises=True), "failed:engine"),
])
def test_engine_errors_become_failed_records(redis_client, engine, reason):
    proc, store, keys = make(redis_client, engine)
    (fid,) = put_frames(redis_client, keys, 1)
    assert proc.process_frame(fid, "cam1") == reason
    assert store.counts("cam1")[reason] == 1


def test_undecodable_envelope_is_bad_frame(redis_client):
    proc, store, keys = make(redis_client, NullEngine())
    (fid,) = put_frames(redis_client, keys, 1)
    redis_client.set(keys.frame(fid), b"\x93not an envelope")
    assert proc.process_frame(fid, "cam1") == "failed:bad_frame"
    assert results(redis_client, keys)[fid].reason.startswith("bad_frame")


@pytest.mark.parametrize("case", ["other_frame", "empty_id", "other_camera"])
def test_envelope_naming_another_frame_fails_the_job_frame(redis_client, case):
    proc, store, keys = make(redis_client, NullEngine())
    fid, victim = put_frames(redis_client, keys, 2)
    names = {"other_frame": (victim, "cam1"), "empty_id": ("", "cam1"),
             "other_camera": (fid, "cam2")}[case]
    forged = FrameEnvelope(frame_id=names[0], camera=names[1], data=b"x", max_age_s=30.0)
    redis_client.set(keys.frame(fid), encode_frame(forged))
    assert proc.process_frame(fid, "cam1") == "failed:bad_frame"
    assert results(redis_client, keys)[fid].reason.startswith("bad_frame")
    assert redis_client.zscore(keys.inflight("cam1"), fid) is None  # the job's frame ended
    assert redis_client.zscore(keys.inflight("cam1"), victim) is not None  # the other did not
    assert not redis_client.hexists(keys.running("n1"), fid)


def test_run_job_drains_ready_jobs_up_to_batch_max(redis_client):
    proc, store, keys = make(redis_client, NullEngine(), batch_max=4)
    ids = put_frames(redis_client, keys, 6)
    redis_client.lpop(QKEY)  # RQ itself dequeued the first job
    out = proc.run_job([(ids[0], "cam1")])
    assert out == {"frames": 4, "drained": 3}
    assert redis_client.llen(QKEY) == 2
    assert not any(redis_client.exists("rq:job:%s" % i) for i in ids[1:4])  # drained jobs cleaned
    assert store.accounting("cam1")["read"] == 4
    proc.state.set_drained(True)  # an operator drained the node: shared queue no longer drained
    assert proc.state.queue_names() == ["alpr:node-n1"]
    assert proc.run_job([(ids[4], "cam1")]) == {"frames": 1, "drained": 0}


def test_stop_request_stops_draining(redis_client):
    proc, store, keys = make(redis_client, NullEngine())
    ids = put_frames(redis_client, keys, 3)
    proc.state.request_stop()
    assert proc.run_job([(ids[0], "cam1")])["frames"] == 1


def test_frame_engine_for_specs():
    assert frame_engine_for("null", None).name == "null"
    sleeper = frame_engine_for("sleep:0.01", None)
    assert isinstance(sleeper, SleepEngine) and sleeper.seconds == 0.01
    started = time.time()
    sleeper.process(None)
    assert time.time() - started >= 0.01
    for bad in ("sleep:x", "gpu", "sleep:-1"):
        with pytest.raises(Exception):
            frame_engine_for(bad, None)


class recording_engine(object):
    """Unit-test engine: records when and in which thread prepare/process run (process
    holds each frame 0.15 s, like a model on a GPU)."""

    def __init__(self):
        self.events = []

    def prepare(self, env):
        import threading

        self.events.append(("prepare", env.frame_id, threading.get_ident(), time.time()))
        return "decoded-" + env.frame_id

    def process(self, env, prepared=None):
        import threading

        start = time.time()
        time.sleep(0.15)
        self.events.append(("process", env.frame_id, threading.get_ident(), start, time.time(),
                            prepared))
        return FrameResult(timings={"engine": 150.0})


def test_read_ahead_claims_and_prepares_the_next_frame_during_this_one(redis_client):
    import threading

    engine = recording_engine()
    proc, store, keys = make(redis_client, engine, batch_max=8)
    ids = put_frames(redis_client, keys, 3)
    redis_client.lpop(QKEY)
    try:
        assert proc.run_job([(ids[0], "cam1")]) == {"frames": 3, "drained": 2}
    finally:
        proc.close()
    prepares = {e[1]: e for e in engine.events if e[0] == "prepare"}
    processes = [e for e in engine.events if e[0] == "process"]
    assert [e[1] for e in processes] == ids  # in queue order
    assert all(e[5] == "decoded-" + e[1] for e in processes)  # each got its own prepare
    main = threading.get_ident()
    assert all(e[2] == main for e in processes)
    for before, after in zip(processes, processes[1:]):
        ahead = prepares[after[1]]
        assert ahead[2] != main  # the helper thread...
        # ...started it before the previous frame's run ended, not after: the read-ahead
        # may start as soon as the previous frame is claimed, even before its run begins
        assert ahead[3] <= before[4]
    assert store.accounting("cam1")["read"] == 3
    assert not redis_client.hlen(keys.running("n1"))


class Abort(BaseException):
    """What a job timeout or SIGINT does mid-frame: unwinds past the engine's error handling."""


def test_a_run_cut_short_hands_its_read_ahead_frame_to_the_next_job(redis_client):
    engine = recording_engine()
    proc, store, keys = make(redis_client, engine, batch_max=8)
    ids = put_frames(redis_client, keys, 2)
    redis_client.lpop(QKEY)
    real_process = engine.process
    calls = []

    def aborting_once(env, prepared=None):
        calls.append(env.frame_id)
        if len(calls) == 1:
            time.sleep(0.2)  # long enough for the helper to claim the next frame
            raise Abort()
        return real_process(env, prepared)

    engine.process = aborting_once
    try:
        with pytest.raises(Abort):
            proc.run_job([(ids[0], "cam1")])
        # the second frame was claimed ahead: it is this node's, and the next job runs it
        assert redis_client.hexists(keys.running("n1"), ids[1])
        assert redis_client.llen(QKEY) == 0
        assert proc.run_job([])["frames"] == 1
    finally:
        proc.close()
    assert results(redis_client, keys)[ids[1]].status == "read"
    assert not redis_client.hexists(keys.running("n1"), ids[1])
    assert redis_client.hexists(keys.running("n1"), ids[0])  # the aborted one: for recovery


def test_finishes_run_in_the_helper_and_a_failed_one_is_raised(redis_client):
    proc, store, keys = make(redis_client, NullEngine(), batch_max=8)
    ids = put_frames(redis_client, keys, 3)
    redis_client.lpop(QKEY)
    real_finish = proc.finisher.finish
    calls = []

    def failing_once(record, cleanup):
        calls.append(record.frame_id if record else None)
        if len(calls) == 1:
            raise ConnectionError("redis went away past the retry budget")
        return real_finish(record, cleanup)

    proc.finisher.finish = failing_once
    try:
        with pytest.raises(ConnectionError):
            proc.run_job([(ids[0], "cam1")])
    finally:
        proc.close()
    recs = results(redis_client, keys)
    assert ids[0] not in recs and redis_client.hexists(keys.running("n1"), ids[0])
    assert all(recs[i].status == "read" for i in ids[1:] if i in recs)  # the others finished
    assert not any(redis_client.hexists(keys.running("n1"), i) for i in ids[1:] if i in recs)
