"""One frame through the worker: claim, stale check, engine, result record, finish — never a crash.

Every outcome is a terminal record (read / stale / failed:<reason>) written through the
FrameStore, so the per-camera accounting always balances. Redis calls go through a Retry
(finish is idempotent, so retrying it after a lost reply cannot double-count).
"""
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from rq.timeouts import JobTimeoutException

from alpr import defaults
from alpr.errors import FrameDecodeError
from alpr.frame_jobs import Frame, enqueue_requeued
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
from worker.drain import Drainer
from worker.jobs import frames_of, make_queue
from worker.liveness import EngineWatch
from worker.metrics import Metrics

log = logging.getLogger(__name__)

HELD = "held"  # process_frame's answer for a duplicate job whose frame another node holds
ENGINE_REASONS = ("bad_image", "bad_frame", "engine", "timeout", "model")


class FrameProcessor(object):
    """Processes the frames of RQ jobs (and drained ones) with one engine for one node."""

    def __init__(self, redis_client: Any, store: FrameStore, keys: Keys, engine: Any, node: str,
                 queues: Sequence[str], shared_queue: str, batch_max: int, metrics: Metrics,
                 retry: Retry, watch: Optional[EngineWatch] = None) -> None:
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
        self.drainer = Drainer(redis_client, keys.queued)
        self.stop_requested = False  # set on SIGTERM: finish the current frame, then stop
        self.drained = False  # set by the heartbeat when an operator drained this node
        self._carried = []  # type: List[Claimed]
        self._pool = None  # type: Any
        # engine calls timed for the heartbeat (liveness = progress); a stuck one stops beats
        self.watch = watch or EngineWatch(defaults.JOB_TIMEOUT_S)
        self._timed_out = None  # type: Optional[BaseException]  # the job timeout, re-raised

    def queue_names(self) -> List[str]:
        """Queues to take work from now: a drained node keeps only its own queue."""
        if self.drained:
            own = [q for q in self.all_queues if q != self.shared_queue]
            return own
        return list(self.all_queues)

    # --- jobs ----------------------------------------------------------------------------
    def run_job(self, frames: Sequence[Frame], preclaimed: Optional[Tuple[str, bytes, float]] = None
                ) -> Dict[str, int]:
        """Process the job's frames, then drain ready frame jobs up to batch_max frames.

        Read-ahead: while a frame is in the engine, a helper thread claims the next one
        (the job's next frame, or the first frame of a job it pops off the queues) and runs
        the engine's host-side prepare (JPEG decode), so a node under load pays its queue
        round trips and decode beside the models instead of between them. A node holds at
        most one frame beyond the one it runs. Frames claimed ahead by a run cut short
        (job timeout, Redis gone past the retry budget) are run first by the next job; if
        the process dies instead, the reaper re-queues them like any running frame.
        Each frame's finish (its result record, one round trip) goes to the helper too,
        queued before the next read-ahead, so the engine starts the next frame at once;
        all finishes are done before this returns, and a failed one is raised.
        ``preclaimed`` is a frame of the job claimed by the dequeue (FrameQueue), body in hand.
        """
        todo = deque((f, c, ()) for f, c in frames)  # type: Deque[Tuple[str, str, Sequence[str]]]
        ready = deque(self._carried)  # type: Deque[Claimed]
        self._carried = []
        if preclaimed is not None:
            ready.extend(self._adopt(todo, *preclaimed))
        taken = len(ready)
        done = drained = 0
        self._timed_out = None
        ahead = None  # type: Any
        go = threading.Event()  # set when the engine's models leave the CPU to the next decode
        finishing = deque()  # type: Deque[Any]
        completed = False

        def defer(fn: Callable[..., Any], *args: Any) -> None:
            finishing.append(self._reader().submit(fn, *args))

        try:
            while True:
                if not ready:
                    if ahead is not None:
                        got, popped = ahead.result()
                        ahead = None
                        drained += popped
                        if got is None:
                            break
                        ready.append(got)
                    elif todo:
                        ready.append(self._claim(*todo.popleft()))
                        taken += 1
                    else:
                        break
                item = ready.popleft()
                drain = taken < self.batch_max and not self.stop_requested
                go = threading.Event()
                if not ready and (todo or drain):
                    ahead = self._reader().submit(self._fetch_next, todo, drain, go)
                    taken += 1
                self._complete(item, go.set, defer)
                go.set()
                done += 1
                if self._timed_out is not None:  # the job timeout stops the job (frame counted)
                    raise self._timed_out
                while finishing and finishing[0].done():
                    finishing.popleft().result()  # a finish that failed stops the run here
            completed = True
        finally:
            go.set()
            failed = None  # type: Optional[BaseException]
            while finishing:
                try:
                    finishing.popleft().result()
                except Exception as exc:  # the rest still finish; the first error is raised
                    failed = failed or exc
            self._carried = list(ready)
            if ahead is not None:  # unwinding: keep what the helper claimed for the next job
                try:
                    got = ahead.result()[0]
                except Exception:  # its claim failed: the reaper/sweeper own that frame now
                    got = None
                if got is not None:
                    self._carried.append(got)
            if failed is not None and completed:  # else the error already unwinding wins
                raise failed
        self.metrics.job_done(drained)
        return {"frames": done, "drained": drained}

    def carried(self) -> int:
        """Frames claimed ahead by a run cut short, waiting for the next run."""
        return len(self._carried)

    def _reader(self) -> Any:
        """The one helper thread that claims and prepares the next frame."""
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1)
        return self._pool

    def _fetch_next(self, todo: "Deque[Tuple[str, str, Sequence[str]]]", drain: bool,
                    go: Any = None) -> Tuple[Optional["Claimed"], int]:
        """(the next frame claimed and prepared, jobs popped): the job's next frame, else
        the first frame of the next ready job on the queues; (None, 0) when there is none.
        `go` is waited for before the engine's prepare when the engine asks for that."""
        if todo:
            return self._claim(*todo.popleft(), go=go), 0
        if not drain:
            return None, 0
        job = self.retry.call(self.drainer.pop, self.queue_names())
        if job is None:
            return None, 0
        frames = list(job.frames)
        for i, (frame_id, camera) in enumerate(frames):  # the job hash goes with its last frame
            todo.append((frame_id, camera, [job.job_key] if i == len(frames) - 1 else ()))
        return self._claim(*todo.popleft(), go=go), 1  # a popped job names >= 1 frame

    def claim_for_job(self, job_key: str, frame_id: str) -> Tuple[Any, Any]:
        """(job hash, body or None): RQ's fetch of a dequeued job with the claim of its
        frame (AllowlistJob.fetch); retried like any claim, which is idempotent."""
        return self.retry.call(self.store.claim_with_job, job_key, frame_id, self.node)

    def _adopt(self, todo: "Deque[Tuple[str, str, Sequence[str]]]", frame_id: str,
               body: bytes, claim_ms: float) -> List["Claimed"]:
        """The job's frame claimed with the job, taken out of ``todo`` and readied."""
        for entry in todo:
            if entry[0] == frame_id:
                todo.remove(entry)
                item = Claimed(*entry)
                item.payload, item.claim_ms = body, claim_ms
                return [self._ready(item)]
        return []

    def give_back(self, frame_id: str) -> None:
        """A frame claimed with a job that does not name it (a forged job id): renamed back
        to its frame key, or failed if too old, like a dead node's, with a job to carry it."""
        requeued, _ = self.retry.call(self.store.requeue_node, self.node, None, [frame_id])
        if requeued:
            self.retry.call(enqueue_requeued, make_queue(self.shared_queue, self.redis), requeued,
                            self.store)
        log.warning("frame %s was claimed with a job that does not name it; given back", frame_id)

    def close(self) -> None:
        """Stop the helper thread (the frames it claimed stay in running:{node})."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

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
        return self._complete(self._claim(frame_id, camera, ()))

    def _claim(self, frame_id: str, camera: str, cleanup_keys: Sequence[str],
               go: Any = None) -> "Claimed":
        """Claim the frame and get it ready for the engine: envelope checked, and (while
        still fresh) the engine's prepare run. Safe in the helper thread: no metrics, no
        records, only the idempotent claim. An engine whose models use the CPU
        (`prepare_after_detect`) prepares once `go` is set: after the current frame's
        detector, when the OCR leaves a core idle."""
        item = Claimed(frame_id, camera, cleanup_keys)
        started = time.time()
        item.payload = self.retry.call(self.store.claim, frame_id, camera, self.node)
        item.claim_ms = (time.time() - started) * 1000.0
        return self._ready(item, go)

    def _ready(self, item: "Claimed", go: Any = None) -> "Claimed":
        """A claimed frame's envelope checked and (while fresh) the engine's prepare run."""
        frame_id, camera = item.frame_id, item.camera
        if item.payload is HELD_ELSEWHERE or item.payload is None:
            return item
        try:
            env = decode_frame(item.payload)
        except FrameDecodeError as exc:
            item.error = "bad_frame: %s" % exc
            return item
        if env.frame_id != frame_id or env.camera != camera:
            # a forged or broken envelope must not finish another frame (or none)
            item.error = ("bad_frame: envelope names another frame (%r, %r)"
                          % (env.frame_id[:40], env.camera[:40]))
            return item
        item.env = env
        prepare = getattr(self.engine, "prepare", None)
        if go is not None and getattr(self.engine, "prepare_after_detect", False):
            go.wait(defaults.PREPARE_WAIT_S)
        if prepare is not None and not env.is_stale(time.time()):
            try:
                with self.watch.call(frame_id):
                    item.prepared = prepare(env)
            except Exception as exc:  # process() meets the same input and reports it
                log.debug("prepare failed on frame %s: %s", frame_id, exc)
        return item

    def _complete(self, item: "Claimed", on_detected: Optional[Callable[[], None]] = None,
                  defer: Optional[Callable[..., None]] = None) -> str:
        """Engine (unless stale or bad), then the terminal record; returns its counter field.
        With `defer`, the finish is handed to it (the helper thread) instead of done here."""
        later = defer or (lambda fn, *args: fn(*args))
        if item.payload is HELD_ELSEWHERE:  # a duplicate job: the node holding the frame finishes it
            log.debug("frame %s is held by another node; duplicate job skipped", item.frame_id)
            later(self._finish, None, item.cleanup)
            return HELD
        started = time.time()
        timings = {"claim": item.claim_ms}  # type: Dict[str, float]
        env = item.env
        if item.payload is None:
            record = ResultRecord(frame_id=item.frame_id, camera=item.camera,
                                  status=STATUS_STALE, node=self.node,
                                  reason="expired: frame key gone before a worker claimed it")
        elif env is None:
            record = ResultRecord(frame_id=item.frame_id, camera=item.camera,
                                  status=STATUS_FAILED, node=self.node, reason=item.error)
        else:
            timings["queue"] = (started - env.ts) * 1000.0
            record = self._recognise(env, started, timings, item.prepared, on_detected)
        done = time.time()
        if env is not None:
            record.timings["total"] = (done - env.ts) * 1000.0
        record.done = done
        later(self._finish_counted, record, item.cleanup)
        return counter_field(record)

    def _finish_counted(self, record: ResultRecord, cleanup_keys: Sequence[str]) -> None:
        """Finish a record and count it in the metrics if this call made it terminal."""
        if self._finish(record, cleanup_keys):
            self.metrics.frame_done(counter_field(record), record.timings)

    def _recognise(self, env: FrameEnvelope, started: float, timings: Dict[str, float],
                   prepared: Any = None, on_detected: Optional[Callable[[], None]] = None
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
            self._timed_out = exc
            return record
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
        evidence = getattr(result, "evidence", None)
        if evidence:  # crops ride in their reads, the snapshot in the record (alpr.protocol)
            from engines.evidence import attach

            attach(record.reads, evidence)
            record.frame_jpeg, record.frame_scale = evidence.get("frame"), evidence["scale"]
        return record

    def _finish(self, record: Optional[ResultRecord], cleanup_keys: Sequence[str]) -> bool:
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
