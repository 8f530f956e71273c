"""Shared helpers of the worker tests: put frames exactly as the producer does (tests/enqueue.py)."""
import time

from alpr.protocol import decode_result
from enqueue import put_frames  # noqa: F401  (re-exported: the worker tests' frames)


def queue_key(name):
    """The Redis list of an RQ queue (RQ's own prefix)."""
    from rq.queue import Queue

    return Queue.redis_queue_namespace_prefix + name


def results(client, keys):
    """Result records of the stream, in order, keyed by frame id."""
    return {r.frame_id: r for r in (decode_result(f) for _, f in client.xrange(keys.results))}


def wait_for(predicate, timeout=20.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
