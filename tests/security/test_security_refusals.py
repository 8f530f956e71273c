"""A real `alpr worker` refuses pickled payloads and non-allowlisted functions, counts them, goes on."""
import os
import time
import uuid

from alpr.protocol import FrameEnvelope, decode_result


class Boom(object):
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % self.marker,))


def wait_for(predicate, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def security_counts(fleet):
    return {k.decode(): int(v) for k, v in fleet.redis.hgetall(fleet.keys.security).items()}


def good_frame(fleet):
    """Produce one real frame as the producer does (tests/enqueue.py: FrameSender.put)."""
    from enqueue import put_frame

    env = FrameEnvelope(frame_id=uuid.uuid4().hex[:10], camera="secure-cam", data=b"\xff\xd8",
                        max_age_s=60.0)
    put_frame(fleet.redis, fleet.keys, env, queue=fleet.keys.queue(fleet.queue))
    return env.frame_id


def results(fleet):
    return [decode_result(f) for _, f in fleet.redis.xrange(fleet.keys.results)]


def test_pickled_payload_and_foreign_function_are_refused_and_counted(fleet, tmp_path):
    from rq import Queue

    from alpr.job_serializer import MsgpackSerializer

    fleet.start_worker("secnode", engine="null")
    fleet.wait_nodes(["secnode"], timeout=60)
    marker_pickle = tmp_path / "pwned-by-pickle"
    marker_func = tmp_path / "pwned-by-function"

    # 1. a default (pickle) RQ queue naming even the allowlisted function, with a booby-trapped arg
    pickled = Queue(fleet.keys.queue(fleet.queue), connection=fleet.redis)
    pickled.enqueue_call("worker.jobs.process_frames", args=([Boom(str(marker_pickle))],))
    # 2. a msgpack job naming a function outside the allowlist
    foreign = Queue(fleet.keys.queue(fleet.queue), connection=fleet.redis, serializer=MsgpackSerializer)
    foreign.enqueue_call("os.system", args=("touch %s" % marker_func,))

    counts = wait_for(lambda: (lambda c: c if c.get("refused_payload") and c.get("refused_function")
                               else None)(security_counts(fleet)))
    assert counts and counts["refused_payload"] == 1 and counts["refused_function"] == 1, \
        security_counts(fleet)
    assert not marker_pickle.exists(), "the pickled payload was unpickled"
    assert not marker_func.exists(), "a non-allowlisted function ran"

    # the worker is still alive and serves real frames after the refusals
    frame_id = good_frame(fleet)
    done = wait_for(lambda: [r for r in results(fleet) if r.frame_id == frame_id])
    assert done and done[0].status in ("read", "failed"), done
    assert fleet.alive("secnode")
    time.sleep(0.5)
    assert not marker_pickle.exists() and not marker_func.exists()
