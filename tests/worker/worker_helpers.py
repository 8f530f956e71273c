"""Shared helpers of the worker tests: put frames exactly as the producer does."""
import time
import uuid

from alpr.frame_store import FrameStore
from alpr.protocol import FrameEnvelope, decode_result
from alpr.frame_jobs import enqueue_frames, job_queue


def put_frames(client, keys, count, camera="cam1", queue=None, data=b"\xff\xd8jpeg",
               max_age=30.0, ts=None, truth=None, roi=None):
    """Store ``count`` envelopes and enqueue one RQ job per frame (one MULTI each); ids back.
    ``queue`` is an RQ queue name; default: the shared queue `frames` of the namespace, as
    `alpr produce` names it."""
    store = FrameStore(client, keys)
    rq_queue = job_queue(keys.queue("frames") if queue is None else queue, client)
    ids = []
    for i in range(count):
        env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera=camera, data=data, seq=i,
                            ts=time.time() if ts is None else ts, max_age_s=max_age, truth=truth,
                            roi=roi)
        store.put(env, queue_job_fn=lambda pipe, e=env: enqueue_frames(
            rq_queue, [(e.frame_id, e.camera)], pipeline=pipe, job_id=e.frame_id),
            queue_key=rq_queue.key)
        ids.append(env.frame_id)
    return ids


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
