"""Whoever writes to Redis cannot make a node import or call anything through a job hash.

A real `alpr worker` (null engine) on the session's real redis-server. Each test forges one
job the way an attacker with Redis access would: a frame job enqueued as the producer does,
then one field set by hand (a callback, a dependency, retries, keyword arguments). The
callback names a module of the test's own that leaves a marker file when it is imported and
another when its function is called: neither may appear, the job is counted in the
`security` hash, its frame is answered failed:refused, and the worker serves the next frame.
"""
import json
import os
import uuid

import pytest

from demo.fleet import Fleet
from alpr.frame_store import FrameStore
from alpr.protocol import FrameEnvelope, decode_result
from testenv import ROOT
from alpr.frame_jobs import FUNC_NAME
from worker.jobs import make_queue

from test_security_refusals import security_counts, wait_for

TRAP = """
import os
open(os.path.join(%(dir)r, "imported"), "w").close()


def hit(*args, **kwargs):
    open(os.path.join(%(dir)r, "called"), "w").close()
"""


@pytest.fixture
def trap(tmp_path):
    """(module name, marker dir): a module whose import and call each leave a file."""
    name = "alpr_trap_%s" % uuid.uuid4().hex[:8]
    code_dir, markers = tmp_path / "code", tmp_path / "markers"
    code_dir.mkdir()
    markers.mkdir()
    (code_dir / (name + ".py")).write_text(TRAP % {"dir": str(markers)})
    return name, markers, str(code_dir)


@pytest.fixture
def trapped_fleet(redis_url, tmp_path, trap):
    """A fleet whose worker could import the trap module (it is on its PYTHONPATH)."""
    run = uuid.uuid4().hex[:8]
    logs = tmp_path / "logs"
    logs.mkdir()
    path = os.pathsep.join([ROOT, trap[2], os.environ.get("PYTHONPATH", "")])
    fleet = Fleet(redis_url, "secf-%s:" % run, "frames", str(logs),
                  extra_env={"PYTHONPATH": path})
    yield fleet
    fleet.stop_all()


def put_frame(fleet, camera="forged-cam", **enqueue):
    """One frame and its job, exactly as the producer puts them (tests/enqueue.py); with
    ``enqueue`` options (what an attacker adds: callbacks, dependencies, ...), the job is
    RQ's enqueue_call with them instead, in the same MULTI. Returns the frame id."""
    import enqueue as producer_put

    env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera=camera, data=b"\xff\xd8",
                        max_age_s=60.0)
    if not enqueue:
        producer_put.put_frame(fleet.redis, fleet.keys, env, queue=fleet.keys.queue(fleet.queue))
        return env.frame_id
    queue = make_queue(fleet.keys.queue(fleet.queue), fleet.redis)
    FrameStore(fleet.redis, fleet.keys).put(
        env, queue_job_fn=lambda pipe: queue.enqueue_call(
            FUNC_NAME, args=([[env.frame_id, env.camera]],), job_id=env.frame_id, pipeline=pipe,
            **enqueue))
    return env.frame_id


def job_key(job_id):
    from rq.job import Job

    return Job.redis_job_namespace_prefix + job_id


def records(fleet):
    return {r.frame_id: r for r in (decode_result(f) for _, f in
                                   fleet.redis.xrange(fleet.keys.results))}


def run_and_check(fleet, trap, forged_id, counter):
    """Start the worker on [good, forged] queued in that order (the forged job reaches the
    worker through its drain, is handed back and refused by the dequeue), then one more."""
    name, markers, _ = trap
    fleet.start_worker("fnode", engine="null")
    fleet.wait_nodes(["fnode"], timeout=60)
    counts = wait_for(lambda: security_counts(fleet).get(counter))
    assert counts == 1, (security_counts(fleet), open(os.path.join(
        fleet.log_dir, "fnode.log")).read()[-3000:])
    after = put_frame(fleet, camera="good-cam")
    done = wait_for(lambda: records(fleet).get(after))
    assert done is not None and done.status == "read", done
    forged = records(fleet)[forged_id]
    assert forged.status == "failed" and forged.reason.startswith("refused"), forged
    assert not fleet.redis.exists(job_key(forged_id))  # refused jobs leave no hash behind
    assert sorted(os.listdir(str(markers))) == [], "the trap module was imported or called"
    assert fleet.alive("fnode")
    log = open(os.path.join(fleet.log_dir, "fnode.log")).read()
    assert "refused job %s" % forged_id in log
    assert "Traceback" not in log  # refused without RQ's failure path (which logs one)


@pytest.mark.parametrize("field", ["success_callback_name", "failure_callback_name",
                                   "stopped_callback_name"])
def test_callback_named_in_a_frame_job_is_refused_unimported(trapped_fleet, trap, field):
    put_frame(trapped_fleet, camera="good-cam")
    forged = put_frame(trapped_fleet)
    trapped_fleet.redis.hset(job_key(forged), field, "%s.hit" % trap[0])
    run_and_check(trapped_fleet, trap, forged, "refused_field")


def test_failure_callback_on_a_refused_function_is_never_called(trapped_fleet, trap):
    """The case seen: a job naming os.getcwd (refused) with a failure callback set by hand
    went through RQ's failure path, which imported and called the callback."""
    from rq import Queue

    from alpr.job_serializer import MsgpackSerializer

    put_frame(trapped_fleet, camera="good-cam")
    queue = Queue(trapped_fleet.keys.queue(trapped_fleet.queue), connection=trapped_fleet.redis,
                  serializer=MsgpackSerializer)
    job = queue.enqueue_call("os.getcwd", args=())
    trapped_fleet.redis.hset(job_key(job.id), "failure_callback_name", "%s.hit" % trap[0])
    name, markers, _ = trap
    trapped_fleet.start_worker("fnode", engine="null")
    trapped_fleet.wait_nodes(["fnode"], timeout=60)
    assert wait_for(lambda: security_counts(trapped_fleet).get("refused_field")) == 1, \
        security_counts(trapped_fleet)
    after = put_frame(trapped_fleet, camera="good-cam")
    assert wait_for(lambda: records(trapped_fleet).get(after)) is not None
    assert sorted(os.listdir(str(markers))) == []
    assert not trapped_fleet.redis.exists(job_key(job.id))


@pytest.mark.parametrize("field,value", [
    ("dependency_ids", json.dumps(["some-other-job"])),
    ("retries_left", "3"),
    ("webhooks", json.dumps([{"url": "http://127.0.0.1:9/hook"}])),
    ("meta", "\x80"),
])
def test_dependency_retry_webhook_or_meta_fields_are_refused(trapped_fleet, trap, field, value):
    put_frame(trapped_fleet, camera="good-cam")
    forged = put_frame(trapped_fleet)
    trapped_fleet.redis.hset(job_key(forged), field, value)
    run_and_check(trapped_fleet, trap, forged, "refused_field")


def test_keyword_arguments_are_refused(trapped_fleet, trap):
    """A frame job with kwargs used to take RQ's own execution path."""
    put_frame(trapped_fleet, camera="good-cam")
    forged = put_frame(trapped_fleet, kwargs={"shell": True})
    run_and_check(trapped_fleet, trap, forged, "refused_args")
