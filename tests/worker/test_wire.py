"""RQ wire: msgpack serializer, allowlisted Job, refusal of pickled and foreign jobs, drain decoding."""
import pickle  # tests only: build the payload the worker must refuse
import zlib

import pytest

from worker.drain import Drainer, decode_frame_job
from alpr.frame_jobs import FUNC_NAME, enqueue_frames, job_queue, parse_frames
from worker.jobs import AllowlistJob, frames_of, refusal
from alpr.job_serializer import MsgpackSerializer, PayloadRefused


def test_serializer_round_trip_and_refuses_pickle():
    obj = [FUNC_NAME, None, [[["f1", "cam"]]], {}]
    assert MsgpackSerializer.loads(MsgpackSerializer.dumps(obj)) == obj
    with pytest.raises(PayloadRefused):
        MsgpackSerializer.loads(pickle.dumps(("os.system", None, ("id",), {}), protocol=2))
    with pytest.raises(PayloadRefused):
        MsgpackSerializer.loads(b"\xc1garbage")
    with pytest.raises(PayloadRefused):
        MsgpackSerializer.loads("text, not bytes")


@pytest.mark.parametrize("bad", [[], "x", [["a"]], [["a", 1]], [["", "c"]], [["a" * 500, "c"]],
                                 [["a", "b"]] * 300, None])
def test_parse_frames_rejects_malformed(bad):
    with pytest.raises(ValueError):
        parse_frames(bad)


def test_enqueued_job_is_msgpack_and_allowed(redis_client):
    queue = job_queue("frames", redis_client)
    job = enqueue_frames(queue, [("f1", "cam1")], job_id="f1")
    stored = redis_client.hget("rq:job:f1", "data")
    assert decode_frame_job(stored) == [("f1", "cam1")]
    fetched = AllowlistJob.fetch("f1", connection=redis_client, serializer=MsgpackSerializer)
    assert refusal(fetched) is None and frames_of(fetched) == [("f1", "cam1")]
    assert fetched.result_ttl == 10 and fetched.failure_ttl == 3600 and job.id == "f1"
    assert len(stored) < 300  # keys only: no pixels inside RQ's job data


def test_foreign_function_refused_before_import(redis_client):
    from rq import Queue

    q = Queue("frames", connection=redis_client, serializer=MsgpackSerializer)
    q.enqueue_call("os.system", args=("echo pwned",), job_id="evil")
    job = AllowlistJob.fetch("evil", connection=redis_client, serializer=MsgpackSerializer)
    counter, reason = refusal(job)
    assert counter == "refused_function" and "os.system" in reason
    with pytest.raises(Exception) as info:
        job.func  # noqa: B018 - the property itself must refuse
    assert "allowlist" in str(info.value)


def test_pickled_job_from_a_default_rq_queue_is_refused(redis_client):
    from rq import Queue

    Queue("frames", connection=redis_client).enqueue_call(FUNC_NAME, args=([["f", "c"]],),
                                                        job_id="pickled")
    raw = zlib.decompress(redis_client.hget("rq:job:pickled", "data"))
    assert raw[:1] == b"\x80"  # it really is a pickle
    job = AllowlistJob.fetch("pickled", connection=redis_client, serializer=MsgpackSerializer)
    counter, reason = refusal(job)
    assert counter == "refused_payload" and "pickle" in reason
    assert frames_of(job) == []


def test_drainer_pops_in_queue_order_and_gives_back_foreign_jobs(redis_client):
    from rq import Queue

    shared = job_queue("frames", redis_client)
    own = job_queue("node-n1", redis_client)
    enqueue_frames(shared, [("s1", "c")], job_id="s1")
    enqueue_frames(own, [("o1", "c")], job_id="o1")
    drainer = Drainer(redis_client, "alpr:queued")
    first = drainer.pop(["node-n1", "frames"])
    assert first.job_id == "o1" and first.frames == [("o1", "c")]
    assert drainer.pop(["node-n1", "frames"]).job_id == "s1"
    assert drainer.pop(["node-n1", "frames"]) is None
    Queue("frames", connection=redis_client).enqueue_call(FUNC_NAME, args=([["x", "c"]],),
                                                        job_id="pickled")
    assert drainer.pop(["frames"]) is None  # not ours to run here: back to RQ's path
    assert redis_client.lrange("rq:queue:frames", 0, -1) == [b"pickled"]


def test_zlib_bomb_in_job_data_is_refused_within_the_size_limit(redis_client):
    """A Redis writer's small zlib stream that inflates to 64 MB: the drain's decode and the
    job's restore stop at MAX_JOB_BYTES (bounded decompressobj) and refuse it."""
    import tracemalloc

    from rq.job import Job

    from alpr.job_serializer import MAX_JOB_BYTES, inflate

    bomb = zlib.compress(b"\0" * (64 * MAX_JOB_BYTES), 9)
    assert len(bomb) < MAX_JOB_BYTES // 4  # small on the wire
    with pytest.raises(PayloadRefused):
        inflate(bomb)
    redis_client.hset(Job.redis_job_namespace_prefix + "bomb", mapping={"data": bomb, "status": "queued",
                                                "origin": "frames"})
    tracemalloc.start()
    try:
        assert decode_frame_job(bomb) is None
        job = AllowlistJob.fetch("bomb", connection=redis_client, serializer=MsgpackSerializer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_JOB_BYTES, "inflated %d bytes" % peak
    counter, reason = refusal(job)
    assert counter == "refused_payload" and "inflates beyond" in reason


@pytest.mark.parametrize("field", ["success_callback_name", "failure_callback_name",
                                   "stopped_callback_name"])
def test_allowlist_job_never_resolves_a_callback(redis_client, field):
    """Whatever RQ path reaches a job of the worker's class (a registry cleanup calls the
    failure callback of an 'abandoned' job), the name stored in the hash is not imported."""
    from rq.job import Job

    queue = job_queue("frames", redis_client)
    enqueue_frames(queue, [("cb1", "cam1")], job_id="cb1")
    redis_client.hset(Job.redis_job_namespace_prefix + "cb1", field, "os.system")
    job = AllowlistJob.fetch("cb1", connection=redis_client, serializer=MsgpackSerializer)
    assert job.success_callback is None and job.failure_callback is None
    assert job.stopped_callback is None
    assert refusal(job) == ("refused_field", "job field %r must be empty" % field)
