"""Put frames into a fleet exactly as the producer does: through producer.sender.FrameSender.

Every test that needs frames waiting for a worker (worker, e2e, chaos, security) comes here,
so the frames take the production path: the envelope under `frame:{id}`, the RQ job built
by RQ's own enqueue (id = the frame id), the in-flight and produced accounting and the
frame's `queued` mark, in one MULTI (FrameSender.put), with the job settings `alpr
produce` uses. The one difference is the in-flight cap, off unless a test asks (`cap`).
Tests that forge or break jobs on purpose write those by hand, next to the forging.
"""
import time
import uuid

from alpr.protocol import FrameEnvelope
from alpr.retry import Retry
from alpr.settings import Settings
from producer.sender import FrameSender


def frame_sender(client, keys, queue=None, camera="cam1", cap=None, settings=None):
    """A FrameSender as `alpr produce` builds one (producer/cli.py), on ``queue`` (an RQ
    queue name; default the namespace's shared queue `frames`)."""
    settings = settings or Settings(namespace=keys.ns)
    return FrameSender(client, keys, keys.queue(settings.queue) if queue is None else queue,
                       camera, Retry(retries=3), max_age_s=settings.max_frame_age_s,
                       inflight_cap=cap, results_maxlen=settings.results_maxlen,
                       job_timeout_s=settings.job_timeout_s, result_ttl_s=settings.result_ttl_s,
                       failure_ttl_s=settings.failure_ttl_s)


def put_frame(client, keys, env, queue=None, payload=None, cap=None):
    """Store one envelope and enqueue its job as the producer does; ids the cap dropped.
    ``payload`` replaces the stored bytes (a malformed frame under a well-formed job)."""
    return frame_sender(client, keys, queue, env.camera, cap).put(env, payload=payload)


def put_frames(client, keys, count, camera="cam1", queue=None, data=b"\xff\xd8jpeg",
               max_age=30.0, ts=None, truth=None, roi=None, id_len=32, cap=None):
    """``count`` envelopes put as the producer puts them, one MULTI each; their ids."""
    sender = frame_sender(client, keys, queue, camera, cap)
    ids = []
    for i in range(count):
        env = FrameEnvelope(frame_id=uuid.uuid4().hex[:id_len], camera=camera, data=data, seq=i,
                            ts=time.time() if ts is None else ts, max_age_s=max_age, truth=truth,
                            roi=roi)
        sender.put(env)
        ids.append(env.frame_id)
    return ids

