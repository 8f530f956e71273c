"""The resident worker process: a SimpleWorker subclass (no fork, CUDA-safe) around one engine.

It builds the engine once, warms it, then serves RQ jobs from the node's own queue first and
the shared frame queue second (not the shared one while drained). A reconnect loop keeps it
alive across Redis restarts; SIGTERM finishes the current frame, then exits. A frame's path
from RQ's pop to the results stream: FleetWorker.execute_job -> worker.processor ->
worker.claim -> worker.engine_step -> worker.finish, wired once by build_frame_path.
"""
import logging
import os
import socket
import time
import uuid
from typing import Any, Dict, List, Optional

import rq
from rq.worker import SimpleWorker

from alpr import defaults
from alpr.errors import RefusedJobError
from alpr.frame_jobs import enqueue_requeued
from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import as_text
from alpr.redis_conn import connect_settings
from alpr.stop_flag import StopFlag
from alpr.retry import ExponentialBackoff, standard_retry
from worker.frame_engines import frame_engine_for
from worker.claim import Claimer
from worker.drain import Drainer
from worker.engine_step import EngineStep
from worker.finish import Finisher
from worker.heartbeat import Heartbeat, process_token
from worker.liveness import EngineWatch, ProgressFile
from worker.jobs import AllowlistJob, FrameQueue, frames_of, make_queue, refusal
from worker.metrics import Metrics, serve_metrics
from worker.node_state import NodeState
from worker.processor import FrameProcessor
from alpr.job_serializer import MsgpackSerializer

log = logging.getLogger(__name__)


class FramePath(object):
    """The objects a frame passes through on one node, built once (build_frame_path):
    state (drain, stop), claimer, engine step, finisher, and the processor ordering them."""

    def __init__(self, state: NodeState, claimer: Claimer, engine_step: EngineStep,
                 finisher: Finisher, processor: FrameProcessor) -> None:
        self.state = state
        self.claimer = claimer
        self.engine_step = engine_step
        self.finisher = finisher
        self.processor = processor


def build_frame_path(conn: Any, store: FrameStore, keys: Keys, engine: Any, node: str,
                     queues: List[str], shared_queue: str, batch_max: int, metrics: Metrics,
                     retry: Any, watch: Optional[EngineWatch] = None) -> FramePath:
    """Wire one node's frame path (plain constructor arguments from here down)."""
    state = NodeState(node, queues, shared_queue)
    claimer = Claimer(conn, store, node, shared_queue, retry)
    engine_step = EngineStep(engine, node, watch)
    finisher = Finisher(conn, store, keys, node, retry, metrics)
    processor = FrameProcessor(claimer, engine_step, finisher, Drainer(conn, keys.queued), state,
                               retry, metrics, batch_max)
    return FramePath(state, claimer, engine_step, finisher, processor)


class FleetWorker(SimpleWorker):
    """SimpleWorker that refuses non-allowlisted jobs (counted) and follows the node's drain state.

    A dequeued job's frame is claimed with the job (the queues are armed by the Claimer);
    execute_job gives back a frame the job does not name, refuses what is not a frame job
    (Finisher.refuse) and runs the rest through the FrameProcessor."""

    def __init__(self, queues: List[Any], connection: Any, path: FramePath,
                 failure_ttl: int = defaults.FAILURE_TTL_S,
                 job_timeout: int = defaults.JOB_TIMEOUT_S,
                 all_queues: Optional[List[Any]] = None, **kwargs: Any) -> None:
        self.node_state = path.state  # (not `state`: RQ's worker has one)
        self.claimer = path.claimer
        self.finisher = path.finisher
        self.processor = path.processor
        self.failure_ttl = int(failure_ttl)
        self.job_timeout = int(job_timeout)  # this node's limit: a job's own timeout only lowers it
        self.fleet_stop = False
        self._beat_at = -float("inf")  # RQ's last worker-key heartbeat (monotonic)
        self._written_state = None  # type: Optional[str]
        super().__init__(self.claimer.arm(list(queues)), connection=connection,
                         job_class=AllowlistJob, queue_class=FrameQueue,
                         serializer=MsgpackSerializer, **kwargs)
        self._all_queues = self.claimer.arm(list(all_queues or self.queues))

    @property
    def dequeue_timeout(self) -> int:
        """Short blocking pops, so an idle worker notices drain changes within a second."""
        return defaults.DEQUEUE_POLL_S

    def execute_job(self, job: Any, queue: Any) -> None:
        """Run a frame job on the fast path, or refuse it: never RQ's own execution path,
        which would import and call what the job hash names (callbacks, dependents, ...)."""
        job.timeout = self._timeout_for(job)
        refused = refusal(job)
        frames = frames_of(job)
        pre = job.preclaimed if isinstance(job, AllowlistJob) else None
        if pre is not None and pre[0] not in {f for f, _ in frames}:
            self.claimer.give_back(pre[0])  # a forged id: the frame goes back, with a job
            pre = None
        if refused is None and frames:
            self._run_frames(job, queue, frames, pre)
            return
        if refused is None:  # cannot happen (refusal parses the frames); never run RQ's path
            refused = ("refused_args", "a frame job names no frames")
        # the refused job fails the frames it names (the preclaimed one too), and is deleted
        self.finisher.refuse(job, refused[0], refused[1])
        self._forget_job(job, queue)

    def _forget_job(self, job: Any, queue: Any) -> None:
        """Delete a done job's hash and its entry in RQ's intermediate list (rq >= 2 moves a
        single-queue worker's job id there with BLMOVE; RQ's own path removes it, ours must,
        or the list grows until RQ's 10-minute maintenance): one round trip."""
        try:
            pipe = self.connection.pipeline(transaction=False)
            pipe.delete(job.key)
            intermediate = getattr(queue, "intermediate_queue_key", None)
            if intermediate:
                pipe.lrem(intermediate, -1, job.id)  # from the tail, where BLMOVE put it
            pipe.execute()
        except Exception as exc:  # Redis gone: RQ's own loop reconnects; the hash expires
            log.debug("could not delete job %s: %s", job.id, exc)

    def _timeout_for(self, job: Any) -> int:
        """The job's timeout, at most this node's (ALPR_JOB_TIMEOUT_S); none or -1 = the node's."""
        try:
            own = int(job.timeout)
        except (TypeError, ValueError):
            own = 0
        return min(own, self.job_timeout) if own > 0 else self.job_timeout

    def _run_frames(self, job: Any, queue: Any, frames: List[Any], preclaimed: Any = None
                    ) -> None:
        """A frame job's fast path, the one drained jobs take: run its frames under the
        job's timeout and delete its hash, without RQ's per-job registries and status
        writes (each frame's own state lives in the FrameStore). A failure is logged;
        frames it left unclaimed are re-queued by the orphan sweep. Frames a run cut short
        (the job timeout) had claimed ahead run at once, under a timeout of their own, not
        when the next job happens to come."""
        from rq.timeouts import JobTimeoutException
        from rq.worker import WorkerStatus

        # busy in this process's eyes only (no Redis write): a SIGTERM now lets the frames
        # finish, as RQ does for a job it runs itself
        previous, self._state = self._state, WorkerStatus.BUSY
        try:
            for _ in range(2):
                try:
                    with self.death_penalty_class(job.timeout, JobTimeoutException, job_id=job.id):
                        self.processor.run_job(frames, preclaimed)
                    break
                except Exception as exc:  # JobTimeoutException included: the worker goes on
                    log.warning("frame job %s stopped: %s: %s", job.id, type(exc).__name__, exc)
                if not self.processor.carried() or self.fleet_stop:
                    break
                frames, preclaimed = [], None
        finally:
            self._state = previous
            self._forget_job(job, queue)

    def handle_exception(self, job: Any, *exc_info: Any) -> None:
        """RQ logs a traceback per failed job; a refused job or one whose frames argument is
        malformed is bad input, not a crash: one line (it is counted already)."""
        exc = exc_info[1] if len(exc_info) > 1 else None
        if refusal(job) is not None or isinstance(exc, (RefusedJobError, ValueError)):
            log.warning("job %s failed: %s: %s", job.id, type(exc).__name__, str(exc)[:200])
            return
        super().handle_exception(job, *exc_info)

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        """RQ's worker-key heartbeat, written at most every RQ_BEAT_S when RQ's loop calls it
        plainly (it does so around every job, in the frame's path; liveness that matters
        is the node's own Heartbeat). Calls with a timeout or a pipeline pass through."""
        now = time.monotonic()
        if args or kwargs or now - self._beat_at >= defaults.RQ_BEAT_S:
            super().heartbeat(*args, **kwargs)
            self._beat_at = now
        self._follow_drain()

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's state write, skipped when Redis already holds this state (RQ sets IDLE
        before every dequeue; frame jobs never write BUSY)."""
        if pipeline is None and state == self._written_state:
            self._state = state
            return
        super().set_state(state, pipeline)
        self._written_state = state

    def _follow_drain(self) -> None:
        wanted = self.node_state.queue_names()
        if [q.name for q in self.queues] != wanted and wanted:
            self.queues = [q for q in self._all_queues if q.name in wanted]
            self._ordered_queues = self.queues[:]
            log.info("node %s now listens on %s", self.node_state.node, ", ".join(wanted))

    def request_stop(self, signum: Any, frame: Any) -> None:
        """Warm shutdown: no further job is drained (NodeState) and the current frame finishes."""
        self.fleet_stop = True
        self.node_state.request_stop()
        super().request_stop(signum, frame)

    def _shutdown(self) -> None:
        """RQ's warm stop, except inside the dequeue (worker.jobs.DequeueGate): there the job
        it pops, and the frame claimed with it, run first; the next dequeue stops."""
        gate = self.claimer.gate
        if not gate.busy:
            super()._shutdown()
            return
        gate.stop = True
        self._stop_requested = True
        self.set_shutdown_requested_date()
        log.info("node %s: stop requested inside the dequeue; stopping after it",
                 self.node_state.node)


def node_name(settings: Any) -> str:
    return settings.node_name or socket.gethostname()


def serve(settings: Any, burst: bool = False, max_jobs: Optional[int] = None) -> int:
    """Run the worker until SIGTERM (or, with ``burst``, until the queues are empty); the
    engine is closed on every way out (SIGTERM, burst end, an error at start)."""
    engine = frame_engine_for(settings.engine, settings)
    try:
        return _serve(settings, engine, burst, max_jobs)
    finally:
        close_engine(engine)


def _serve(settings: Any, engine: Any, burst: bool, max_jobs: Optional[int]) -> int:
    node = node_name(settings)
    keys = Keys(settings.namespace)
    engine.warmup(defaults.WARMUP_RUNS)
    metrics = Metrics()
    stop = StopFlag().install()
    retry = standard_retry(should_stop=stop, name="redis (worker %s)" % node)
    conn = retry.call(connect_settings, settings)
    shared = keys.queue(settings.queue)
    queues = ([keys.node_queue(node)] if settings.node_queue else []) + [shared]
    store = FrameStore(conn, keys, settings.results_maxlen, settings.max_frame_age_s)
    watch = EngineWatch(settings.job_timeout_s)  # an engine call past the job timeout = stuck
    path = build_frame_path(conn, store, keys, engine, node, queues, shared, settings.batch_max,
                            metrics, retry, watch)
    state = path.state
    retry.should_stop = lambda: stop() or state.stop_requested
    info = dict(engine.info(), node=node, rq=rq.__version__)
    if settings.metrics_port:
        _, port = serve_metrics(metrics, settings.metrics_port, info=info)
        log.info("metrics on :%d/metrics", port)
    token = process_token()
    retry.call(_recover_own_frames, conn, store, keys, node, settings, token)

    def stats() -> Dict[str, Any]:
        return dict(info, fps="%.2f" % metrics.fps(), p50_ms="%.1f" % metrics.latency("total"),
                    infer_p50_ms="%.1f" % metrics.latency("infer"), frames=metrics.total_frames(),
                    drained=int(state.drained), state="running")

    beat = Heartbeat(conn, keys, node, stats, state.set_drained, settings.heartbeat_s,
                     token=token, stuck=watch.stuck,
                     progress=ProgressFile(settings.progress_file)).start()
    log.info("worker %s ready: engine %s, queues %s, batch_max %d", node, info.get("engine"),
             ", ".join(queues), settings.batch_max)
    backoff = ExponentialBackoff()
    failures = 0
    # RQ logs three INFO lines per job; operators get our lifecycle lines, RQ's only on DEBUG
    rq_level = "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING"
    try:
        while not stop.stopped:
            worker = None
            try:  # RQ's Worker() talks to Redis too: build it through the retry, inside the try
                worker = retry.call(_make_worker, conn, path, queues, settings)
                worker.work(burst=burst, logging_level=rq_level, max_jobs=max_jobs)
            except Exception as exc:  # Redis gone at register/teardown time, etc.
                log.warning("worker loop ended: %s: %s", type(exc).__name__, exc)
            stop.install()  # RQ's handlers are gone with its loop
            if (worker is not None and worker.fleet_stop) or state.stop_requested \
                    or stop.stopped or burst or max_jobs:
                break
            failures += 1
            delay = backoff.compute(failures)
            log.warning("worker loop stopped (Redis unreachable?); restarting in %.1f s", delay)
            time.sleep(delay)
    finally:
        path.processor.close()  # no frame runs past this: the engine is closed by serve()
        beat.stop()
        log.info("worker %s stopped after %d frames", node, metrics.total_frames())
    return 0


def close_engine(engine: Any) -> None:
    """Free the engine's runtimes once no frame runs any more (exit, SIGTERM included)."""
    close = getattr(engine, "close", None)
    if close is None:
        return
    try:
        log.info("engine %s closed: %s", getattr(engine, "name", "?"), close())
    except Exception as exc:  # a failing free must not turn a clean exit into a crash
        log.warning("engine %s did not close cleanly: %s: %s", getattr(engine, "name", "?"),
                    type(exc).__name__, exc)


def _make_worker(conn: Any, path: FramePath, queues: List[str], settings: Any) -> FleetWorker:
    """One RQ worker loop's worker (a fresh RQ name each time the loop restarts)."""
    return FleetWorker(
        [make_queue(q, conn, settings.job_timeout_s) for q in path.state.queue_names()],
        conn, path, failure_ttl=settings.failure_ttl_s, job_timeout=settings.job_timeout_s,
        all_queues=[make_queue(q, conn, settings.job_timeout_s) for q in queues],
        name="%s.%d.%s" % (path.state.node, os.getpid(), uuid.uuid4().hex[:6]),
        default_result_ttl=settings.result_ttl_s)


def predecessor_gone(conn: Any, keys: Keys, node: str, token: str, ttl_ms: int,
                     poll_s: float = 0.1, sleep: Any = time.sleep) -> bool:
    """Wait out a previous process's alive key for this node (systemd restart after a crash).

    True once the key lapsed (its frames are ours to recover); False if it outlived its TTL,
    i.e. another live process beats under this node name.
    """
    key = keys.node_alive(node)
    left = conn.pttl(key)
    deadline = time.time() + (left if left > 0 else ttl_ms) / 1000.0 + 2 * poll_s
    while True:
        value = conn.get(key)
        if value is None or as_text(value) == token:
            return True
        if time.time() >= deadline:
            return False
        sleep(poll_s)


def _recover_own_frames(conn: Any, store: FrameStore, keys: Keys, node: str, settings: Any,
                        token: str) -> None:
    """At start, frames a previous process of this node left running go back (or fail).

    A crashed predecessor's alive key is waited out first (at most its TTL); recovery is
    skipped only when another live process keeps beating under this node name.
    """
    ttl_ms = int(settings.heartbeat_s * defaults.NODE_TTL_FACTOR * 1000)
    if conn.exists(keys.node_alive(node)):
        log.info("node %s: waiting for the previous process's heartbeat to lapse", node)
    if not predecessor_gone(conn, keys, node, token, ttl_ms):
        log.warning("node %s: another live process beats under this name; its running "
                    "frames are left to it (two workers with one --node name?)", node)
        return
    requeued, failed = store.requeue_node(
        node, hold_limit_s=settings.job_timeout_s + defaults.HOLD_GRACE_S)  # stuck ones: timeout
    if requeued:
        enqueue_requeued(make_queue(keys.queue(settings.queue), conn, settings.job_timeout_s),
                         requeued, store,
                         result_ttl=settings.result_ttl_s, failure_ttl=settings.failure_ttl_s,
                         timeout=settings.job_timeout_s)
    if requeued or failed:
        log.info("node %s: re-queued %d and failed %d frames left by a previous run",
                 node, len(requeued), len(failed))
