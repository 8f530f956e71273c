"""One frame through the worker: claim, stale check, engine, result record, finish — never a crash.

Every outcome is a terminal record (read / stale / failed:<reason>) written through the
FrameStore, so the per-camera accounting always balances. Redis calls go through a Retry
(finish is idempotent, so retrying it after a lost reply cannot double-count).
"""
import logging
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alpr.errors import FrameDecodeError
from alpr.frame_store import HELD_ELSEWHERE, FrameStore, counter_field, reason_class
from alpr.keys import Keys
from alpr.protocol import (
    STATUS_FAILED,
    STATUS_READ,
    STATUS_STALE,
    FrameEnvelope,
    ResultRecord,
    decode_frame,
)
from alpr.retry import Retry
from worker.drain import Drainer, DrainedJob
from worker.jobs import Frame, frames_of
from worker.metrics import Metrics

log = logging.getLogger(__name__)

HELD = "held"  # process_frame's answer for a duplicate job whose frame another node holds
ENGINE_REASONS = ("bad_image", "bad_frame", "engine", "timeout", "model")


class FrameProcessor(object):
    """Processes the frames of RQ jobs (and drained ones) with one engine for one node."""

    def __init__(self, redis_client: Any, store: FrameStore, keys: Keys, engine: Any, node: str,
                 queues: Sequence[str], shared_queue: str, batch_max: int, metrics: Metrics,
                 retry: Retry) -> None:
        self.redis = redis_client
        self.store = store
        self.keys = keys
        self.engine = engine
        self.node = node
        self.all_queues = list(queues)  # listening order: node queue first, then shared
        self.shared_queue = shared_queue
        self.batch_max = max(1, int(batch_max))
        self.metrics = metrics
        self.retry = retry
        self.drainer = Drainer(redis_client)
        self.stop_requested = False  # set on SIGTERM: finish the current frame, then stop
        self.drained = False  # set by the heartbeat when an operator drained this node

    def queue_names(self) -> List[str]:
        """Queues to take work from now: a drained node keeps only its own queue."""
        if self.drained:
            own = [q for q in self.all_queues if q != self.shared_queue]
            return own
        return list(self.all_queues)

    # --- jobs ----------------------------------------------------------------------------
    def run_job(self, frames: Sequence[Frame]) -> Dict[str, int]:
        """Process the job's frames, then drain ready frame jobs up to batch_max frames.

        The pop of the next job rides in the same pipeline as the current frame's finish,
        so a drained frame costs two round trips (claim; finish + next pop).
        """
        done, drained = 0, 0
        pending, cleanup = list(frames), ()  # type: Any, Any
        while pending:
            next_job = None
            for i, (frame_id, camera) in enumerate(pending):
                last = i == len(pending) - 1
                more = last and done + 1 < self.batch_max and not self.stop_requested
                _, next_job = self._process(frame_id, camera, cleanup if last else (),
                                            self.queue_names() if more else None)
                done += 1
            pending, cleanup = [], ()
            if next_job is not None:
                pending, cleanup = next_job.frames, [next_job.job_key]
                drained += 1
        self.metrics.job_done(drained)
        return {"frames": done, "drained": drained}

    def refuse(self, job: Any, counter: str, reason: str) -> None:
        """Count and log a refused job; fail the frames it names as failed:refused."""
        self.metrics.refusal(counter)
        log.warning("refused job %s: %s", job.id, reason)
        self.retry.call(self.redis.hincrby, self.keys.security, counter, 1)
        for frame_id, camera in frames_of(job):
            record = ResultRecord(frame_id=frame_id, camera=camera, status=STATUS_FAILED,
                                  node=self.node, reason="refused: %s" % reason)
            self._finish(record, ())

    # --- frames --------------------------------------------------------------------------
    def process_frame(self, frame_id: str, camera: str) -> str:
        """Take one frame to a terminal state; returns its counter field (read, stale, ...),
        or HELD when another node holds the frame (a duplicate job)."""
        return self._process(frame_id, camera, (), None)[0]

    def _process(self, frame_id: str, camera: str, cleanup_keys: Sequence[str],
                 pop_queues: Optional[List[str]]) -> Tuple[str, Optional[DrainedJob]]:
        started = time.time()
        payload = self.retry.call(self.store.claim, frame_id, camera, self.node)
        if payload is HELD_ELSEWHERE:  # a duplicate job: the node holding the frame finishes it
            log.debug("frame %s is held by another node; duplicate job skipped", frame_id)
            return HELD, self._finish(None, cleanup_keys, pop_queues)[1]
        claimed = time.time()
        timings = {"claim": (claimed - started) * 1000.0}  # type: Dict[str, float]
        env = None  # type: Optional[FrameEnvelope]
        if payload is None:
            record = ResultRecord(frame_id=frame_id, camera=camera, status=STATUS_STALE,
                                  node=self.node,
                                  reason="expired: frame key gone before a worker claimed it")
        else:
            try:
                env = decode_frame(payload)
            except FrameDecodeError as exc:
                record = ResultRecord(frame_id=frame_id, camera=camera, status=STATUS_FAILED,
                                      node=self.node, reason="bad_frame: %s" % exc)
            else:
                if env.frame_id != frame_id or env.camera != camera:
                    # a forged or broken envelope must not finish another frame (or none)
                    record = ResultRecord(
                        frame_id=frame_id, camera=camera, status=STATUS_FAILED, node=self.node,
                        reason="bad_frame: envelope names another frame (%r, %r)"
                        % (env.frame_id[:40], env.camera[:40]))
                    env = None
                else:
                    timings["queue"] = (started - env.ts) * 1000.0
                    record = self._recognise(env, started, timings)
        done = time.time()
        if env is not None:
            record.timings["total"] = (done - env.ts) * 1000.0
        record.done = done
        if self.stop_requested:  # SIGTERM arrived during this frame: take no further work
            pop_queues = None
        counted, next_job = self._finish(record, cleanup_keys, pop_queues)
        field = counter_field(record)
        if counted:
            self.metrics.frame_done(field, record.timings)
        return field, next_job

    def _recognise(self, env: FrameEnvelope, started: float, timings: Dict[str, float]
                   ) -> ResultRecord:
        record = ResultRecord(frame_id=env.frame_id, camera=env.camera, status=STATUS_READ,
                              node=self.node, ts=env.ts, seq=env.seq, site=env.site,
                              truth=env.truth, timings=timings)
        if env.is_stale(started):
            record.status = STATUS_STALE
            record.reason = "expired: age %.2f s > max %.2f s" % (env.age(started), env.max_age_s)
            return record
        t0 = time.perf_counter()
        try:
            result = self.engine.process(env)
        except Exception as exc:  # an engine bug or runtime failure must not kill the worker
            log.warning("engine failed on frame %s: %s: %s", env.frame_id, type(exc).__name__, exc)
            record.status = STATUS_FAILED
            record.reason = "engine: %s: %s" % (type(exc).__name__, str(exc)[:300])
            timings["engine"] = (time.perf_counter() - t0) * 1000.0
            return record
        timings["infer"] = (time.perf_counter() - t0) * 1000.0
        for stage, ms in (result.timings or {}).items():  # the engine's own "total" -> "pipeline"
            timings["pipeline" if stage == "total" else str(stage)] = float(ms)
        if result.error:
            record.status = STATUS_FAILED
            error = str(result.error)
            record.reason = error if reason_class(error) in ENGINE_REASONS else "bad_image: " + error
            return record
        record.reads = [r.to_dict() for r in result.reads]
        return record

    def _finish(self, record: Optional[ResultRecord], cleanup_keys: Sequence[str],
                pop_queues: Optional[List[str]] = None) -> Tuple[bool, Optional[DrainedJob]]:
        """Finish (idempotent; no record = nothing to finish), delete drained job hashes, and
        optionally pop the next job."""
        def write() -> Tuple[bool, Any]:
            pipe = self.redis.pipeline(transaction=False)
            if record is not None:
                self.store.finish(record, node=self.node, client=pipe)
            for key in cleanup_keys:
                pipe.delete(key)
            popping = bool(pop_queues) and self.drainer.queue_pop(pipe, pop_queues or [])
            if record is None and not cleanup_keys and not popping:
                return False, None
            replies = pipe.execute()
            return record is not None and bool(replies[0]), (replies[-1] if popping else None)

        counted, popped = self.retry.call(write)
        next_job = self.drainer.parse(popped, pop_queues or []) if popped else None
        return counted, next_job
