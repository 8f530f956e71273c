"""Shared helpers for the dispatcher tests: real frames through the real FrameStore."""
import time
import uuid

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope, ResultRecord


def put_and_finish(store, camera, texts, ts=None, status="read", reason="", truth=None, conf=0.9):
    """Produce one frame and finish it with `texts` as reads; returns the frame id."""
    frame_id = uuid.uuid4().hex[:12]
    ts = time.time() if ts is None else ts
    env = FrameEnvelope(frame_id=frame_id, camera=camera, data=b"jpeg", ts=ts, max_age_s=30.0)
    store.put(env)
    reads = [{"text": t, "confidence": conf, "box": [1, 2, 3, 4], "region": "br"} for t in texts]
    store.finish(ResultRecord(frame_id=frame_id, camera=camera, status=status, reason=reason,
                              ts=ts, reads=reads if status == "read" else [], truth=truth))
    return frame_id


def make_store(redis_client, ns="alpr:"):
    keys = Keys(ns)
    return keys, FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)


class FakeClock(object):
    """A settable clock for grouping windows (only the dispatcher's clock is faked)."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now
