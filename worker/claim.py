"""Claim: turn a frame id into a frame this node holds, its envelope checked.

A frame id comes from three places, all claimed here: the RQ job RQ's dequeue popped (its
frame is claimed in the round trip that reads the job hash: `claim_with_job`, armed on the
worker's own queues by `arm`), the job's further frames, and the jobs the runner drains
(`claim`). The claim renames `frame:{id}` to `held:{id}` and records the node in
`running:{node}` (alpr.frame_store); its reply is the body, None (the key expired) or
HELD_ELSEWHERE (a duplicate job). Nothing claimed is trusted: the envelope must decode and
name the frame that was claimed. A frame claimed with a job that does not name it (a forged
job id) is given back (`give_back`).
"""
import logging
import time
from typing import Any, Deque, List, Sequence, Tuple

from alpr.errors import FrameDecodeError
from alpr.frame_store import HELD_ELSEWHERE, FrameStore
from alpr.protocol import decode_frame
from alpr.retry import Retry
from alpr.frame_jobs import enqueue_requeued
from worker.jobs import AllowlistJob, DequeueGate, make_queue

log = logging.getLogger(__name__)

Todo = Tuple[str, str, Sequence[str]]  # (frame_id, camera, job hash keys to delete with it)


class Claimed(object):
    """A frame this node claimed, ready for the engine: its payload (bytes, None when the
    key was gone, HELD_ELSEWHERE), checked envelope or error, and the engine's prepare."""

    __slots__ = ("frame_id", "camera", "cleanup", "payload", "claim_ms", "env", "error",
                 "prepared")

    def __init__(self, frame_id: str, camera: str, cleanup: Sequence[str]) -> None:
        self.frame_id, self.camera, self.cleanup = frame_id, camera, cleanup
        self.payload = None  # type: Any
        self.claim_ms = 0.0
        self.env = None  # type: Optional[FrameEnvelope]
        self.error = ""
        self.prepared = None  # type: Any

    @property
    def held_elsewhere(self) -> bool:
        """Another node holds the frame: this job is a duplicate, nothing to run or count."""
        return self.payload is HELD_ELSEWHERE


class Claimer(object):
    """Claims frames for one node (idempotent claims, retried) and checks what it got."""

    def __init__(self, redis_client: Any, store: FrameStore, node: str, shared_queue: str,
                 retry: Retry) -> None:
        self.redis = redis_client
        self.store = store
        self.node = node
        self.shared_queue = shared_queue
        self.retry = retry
        # the job class RQ's dequeue fetches with on this node's queues: its fetch claims
        self.gate = DequeueGate()  # the SIGTERM handler's view of the dequeue (worker.node)
        self.job_class = AllowlistJob.claiming(self.claim_with_job, self.gate)

    def arm(self, queues: List[Any]) -> List[Any]:
        """Make RQ's dequeue on these queues (worker.jobs.FrameQueue) claim the popped job's
        frame with the job read; a queue not armed (anywhere else) claims nothing."""
        for queue in queues:
            queue.claiming_job_class = self.job_class
        return queues

    def claim_with_job(self, job_key: str, frame_id: str) -> Tuple[Any, Any]:
        """(job hash, body or None): the dequeued job's hash read with the claim of its
        frame (AllowlistJob.fetch); retried like any claim, which is idempotent."""
        return self.retry.call(self.store.claim_with_job, job_key, frame_id, self.node)

    def claim(self, frame_id: str, camera: str, cleanup: Sequence[str] = ()) -> Claimed:
        """Claim one frame by id; its envelope checked. Safe in the read-ahead thread: no
        metrics, no records, only the idempotent claim."""
        item = Claimed(frame_id, camera, cleanup)
        started = time.time()
        item.payload = self.retry.call(self.store.claim, frame_id, camera, self.node)
        item.claim_ms = (time.time() - started) * 1000.0
        return self.check(item)

    def adopt(self, todo: "Deque[Todo]", frame_id: str, body: bytes, claim_ms: float
              ) -> List[Claimed]:
        """The job's frame the dequeue claimed with the job: taken out of ``todo`` and
        checked ([] when the job does not name it: see give_back)."""
        for entry in todo:
            if entry[0] == frame_id:
                todo.remove(entry)
                item = Claimed(*entry)
                item.payload, item.claim_ms = body, claim_ms
                return [self.check(item)]
        return []

    def check(self, item: Claimed) -> Claimed:
        """Decode the claimed body; an envelope that does not name the claimed frame (forged
        or broken) must not finish another frame, or none: it becomes the item's error."""
        if item.payload is HELD_ELSEWHERE or item.payload is None:
            return item
        try:
            env = decode_frame(item.payload)
        except FrameDecodeError as exc:
            item.error = "bad_frame: %s" % exc
            return item
        if env.frame_id != item.frame_id or env.camera != item.camera:
            item.error = ("bad_frame: envelope names another frame (%r, %r)"
                          % (env.frame_id[:40], env.camera[:40]))
            return item
        item.env = env
        return item

    def give_back(self, frame_id: str) -> None:
        """A frame claimed with a job that does not name it (a forged job id): renamed back
        to its frame key, or failed if too old, like a dead node's, with a job to carry it."""
        requeued, _ = self.retry.call(self.store.requeue_node, self.node, None, [frame_id])
        if requeued:
            self.retry.call(enqueue_requeued, make_queue(self.shared_queue, self.redis), requeued,
                            self.store)
        log.warning("frame %s was claimed with a job that does not name it; given back", frame_id)
