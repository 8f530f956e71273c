"""Finish: write a frame's terminal record and release it, in one round trip.

`FrameStore.finish` (one Lua script) removes the frame from the in-flight set, counts its
terminal state, XADDs the record to the results stream and drops `held:{id}` and its
`running:{node}` entry; the hashes of jobs the runner drained are deleted in the same
pipeline. Only the call that removed the frame from the in-flight set counts it, so a
retried finish (a lost reply) or a reaper racing this node never double-counts. A refused
job's frames end here too, as `failed:refused`, with the refusal counted in `security`.
"""
import logging
from typing import Any, Optional, Sequence

from alpr.frame_store import FrameStore, counter_field
from alpr.keys import Keys
from alpr.protocol import STATUS_FAILED, ResultRecord
from alpr.retry import Retry
from worker.jobs import frames_of
from worker.metrics import Metrics

log = logging.getLogger(__name__)


class Finisher(object):
    """Writes terminal records (and drained job-hash deletes) for one node, retried."""

    def __init__(self, redis_client: Any, store: FrameStore, keys: Keys, node: str,
                 retry: Retry, metrics: Metrics) -> None:
        self.redis = redis_client
        self.store = store
        self.keys = keys
        self.node = node
        self.retry = retry
        self.metrics = metrics

    def finish(self, record: Optional[ResultRecord], cleanup_keys: Sequence[str] = ()) -> bool:
        """Finish (idempotent; no record = nothing to finish) and delete drained job hashes,
        in one round trip; True when this call counted the frame."""
        if record is None and not cleanup_keys:
            return False

        def write() -> bool:
            pipe = self.redis.pipeline(transaction=False)
            if record is not None:
                self.store.finish(record, node=self.node, client=pipe)
            for key in cleanup_keys:
                pipe.delete(key)
            replies = pipe.execute()
            return record is not None and bool(replies[0])

        return bool(self.retry.call(write))

    def finish_counted(self, record: ResultRecord, cleanup_keys: Sequence[str] = ()) -> None:
        """Finish a record and count it in the metrics if this call made it terminal."""
        if self.finish(record, cleanup_keys):
            self.metrics.frame_done(counter_field(record), record.timings)

    def refuse(self, job: Any, counter: str, reason: str) -> None:
        """Count and log a refused job; fail the frames it names as failed:refused."""
        self.metrics.refusal(counter)
        log.warning("refused job %s: %s", job.id, reason)
        self.retry.call(self.redis.hincrby, self.keys.security, counter, 1)
        for frame_id, camera in frames_of(job):
            record = ResultRecord(frame_id=frame_id, camera=camera, status=STATUS_FAILED,
                                  node=self.node, reason="refused: %s" % reason)
            self.finish(record, ())
