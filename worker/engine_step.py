"""The engine's part of a frame: prepare it ahead, then recognise it into a result record.

`prepare` runs the engine's host-side work (JPEG decode, detector input) on a claimed frame,
in the read-ahead thread while the previous frame is in the models. `run` turns a claimed
frame into its terminal record: stale (too old, or its key expired before the claim),
failed (bad envelope, bad image, engine error, the job timeout) or read. Never raises for a
frame: an engine bug is a `failed:engine` record. Every engine call is timed by the
EngineWatch, so a stuck call stops the node's heartbeat (worker.liveness).
"""
import logging
import time
from typing import Any, Callable, Dict, Optional, Tuple

from rq.timeouts import JobTimeoutException

from alpr import defaults
from alpr.frame_store import reason_class
from alpr.protocol import STATUS_FAILED, STATUS_READ, STATUS_STALE, FrameEnvelope, ResultRecord
from worker.claim import Claimed
from worker.liveness import EngineWatch

log = logging.getLogger(__name__)

ENGINE_REASONS = ("bad_image", "bad_frame", "engine", "timeout", "model")


class EngineStep(object):
    """One node's engine, called on claimed frames; builds their result records."""

    def __init__(self, engine: Any, node: str, watch: Optional[EngineWatch] = None) -> None:
        self.engine = engine
        self.node = node
        # engine calls timed for the heartbeat (liveness = progress); a stuck one stops beats
        self.watch = watch or EngineWatch(defaults.JOB_TIMEOUT_S)

    def prepare(self, item: Claimed, go: Any = None) -> Claimed:
        """Run the engine's prepare on a checked, still fresh frame. An engine whose models
        use the CPU (`prepare_after_detect`) prepares once `go` is set: after the current
        frame's detector, when the OCR leaves a core idle."""
        env = item.env
        prepare = getattr(self.engine, "prepare", None)
        if env is None:
            return item
        if go is not None and getattr(self.engine, "prepare_after_detect", False):
            go.wait(defaults.PREPARE_WAIT_S)
        if prepare is not None and not env.is_stale(time.time()):
            try:
                with self.watch.call(item.frame_id):
                    item.prepared = prepare(env)
            except Exception as exc:  # process() meets the same input and reports it
                log.debug("prepare failed on frame %s: %s", item.frame_id, exc)
        return item

    def run(self, item: Claimed, on_detected: Optional[Callable[[], None]] = None
            ) -> Tuple[ResultRecord, Optional[BaseException]]:
        """(the frame's terminal record, the job timeout if it stopped the engine call):
        the caller finishes the record, then stops the job on a timeout."""
        started = time.time()
        timings = {"claim": item.claim_ms}  # type: Dict[str, float]
        env = item.env
        stopped = None  # type: Optional[BaseException]
        if item.payload is None:
            record = ResultRecord(frame_id=item.frame_id, camera=item.camera,
                                  status=STATUS_STALE, node=self.node,
                                  reason="expired: frame key gone before a worker claimed it")
        elif env is None:
            record = ResultRecord(frame_id=item.frame_id, camera=item.camera,
                                  status=STATUS_FAILED, node=self.node, reason=item.error)
        else:
            timings["queue"] = (started - env.ts) * 1000.0
            record, stopped = self._recognise(env, started, timings, item.prepared, on_detected)
        done = time.time()
        if env is not None:
            record.timings["total"] = (done - env.ts) * 1000.0
        record.done = done
        return record, stopped

    def _recognise(self, env: FrameEnvelope, started: float, timings: Dict[str, float],
                   prepared: Any = None, on_detected: Optional[Callable[[], None]] = None
                   ) -> Tuple[ResultRecord, Optional[BaseException]]:
        record = ResultRecord(frame_id=env.frame_id, camera=env.camera, status=STATUS_READ,
                              node=self.node, ts=env.ts, seq=env.seq, site=env.site,
                              truth=env.truth, timings=timings)
        if env.is_stale(started):
            record.status = STATUS_STALE
            record.reason = "expired: age %.2f s > max %.2f s" % (env.age(started), env.max_age_s)
            return record, None
        t0 = time.perf_counter()
        try:
            extra = {}  # type: Dict[str, Any]  # engines that take no extras keep working
            if prepared is not None:
                extra["prepared"] = prepared
            if on_detected is not None and getattr(self.engine, "prepare_after_detect", False):
                extra["on_detected"] = on_detected
            with self.watch.call(env.frame_id):
                result = self.engine.process(env, **extra)
        except JobTimeoutException as exc:  # RQ's SIGALRM: the frame is answered, the job stops
            log.warning("engine timed out on frame %s: %s", env.frame_id, exc)
            record.status = STATUS_FAILED
            record.reason = "timeout: engine call stopped by the job timeout (%s)" % str(exc)[:200]
            timings["engine"] = (time.perf_counter() - t0) * 1000.0
            return record, exc
        except Exception as exc:  # an engine bug or runtime failure must not kill the worker
            log.warning("engine failed on frame %s: %s: %s", env.frame_id, type(exc).__name__, exc)
            record.status = STATUS_FAILED
            record.reason = "engine: %s: %s" % (type(exc).__name__, str(exc)[:300])
            timings["engine"] = (time.perf_counter() - t0) * 1000.0
            return record, None
        timings["infer"] = (time.perf_counter() - t0) * 1000.0
        for stage, ms in (result.timings or {}).items():  # the engine's own "total" -> "pipeline"
            timings["pipeline" if stage == "total" else str(stage)] = float(ms)
        if result.error:
            record.status = STATUS_FAILED
            error = str(result.error)
            record.reason = error if reason_class(error) in ENGINE_REASONS else "bad_image: " + error
            return record, None
        record.reads = [r.to_dict() for r in result.reads]
        evidence = getattr(result, "evidence", None)
        if evidence:  # crops ride in their reads, the snapshot in the record (alpr.protocol)
            from engines.evidence import attach

            attach(record.reads, evidence)
            record.frame_jpeg, record.frame_scale = evidence.get("frame"), evidence["scale"]
        return record, None
