"""Run one RQ job's frames, and the frame jobs it drains, through claim -> engine -> finish.

The path of a frame, top to bottom: `FleetWorker.execute_job` (worker.node) hands a job's
frames to `FrameProcessor.run_job`; each frame is claimed (worker.claim.Claimer), prepared
and recognised (worker.engine_step.EngineStep) and finished (worker.finish.Finisher: the
result XADD and the release). This module only orders those steps: one frame in the engine,
the next one claimed and prepared beside it on a helper thread, which also writes the
finishes; up to batch_max frames per job, the extra ones popped by the Drainer while the
node's state (worker.node_state) allows. Every outcome is a terminal record, so the
per-camera accounting always balances.
"""
import logging
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from alpr.frame_jobs import Frame
from alpr.frame_store import counter_field
from alpr.retry import Retry
from worker.claim import Claimed, Claimer, Todo
from worker.drain import Drainer
from worker.engine_step import EngineStep
from worker.finish import Finisher
from worker.metrics import Metrics
from worker.node_state import NodeState

log = logging.getLogger(__name__)

HELD = "held"  # process_frame's answer for a duplicate job whose frame another node holds


class FrameProcessor(object):
    """Orders claim, engine and finish for the frames of RQ jobs (and drained ones), one
    frame read ahead; the steps themselves are the injected objects'."""

    def __init__(self, claimer: Claimer, engine_step: EngineStep, finisher: Finisher,
                 drainer: Drainer, state: NodeState, retry: Retry, metrics: Metrics,
                 batch_max: int) -> None:
        self.claimer = claimer
        self.engine_step = engine_step
        self.finisher = finisher
        self.drainer = drainer
        self.state = state
        self.retry = retry
        self.metrics = metrics
        self.batch_max = max(1, int(batch_max))
        self._carried = []  # type: List[Claimed]
        self._pool = None  # type: Any
        self._timed_out = None  # type: Optional[BaseException]  # the job timeout, re-raised

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
        ``preclaimed`` is a frame of the job claimed by the dequeue (worker.claim), body in hand.
        """
        todo = deque((f, c, ()) for f, c in frames)  # type: Deque[Todo]
        ready = deque(self._carried)  # type: Deque[Claimed]
        self._carried = []
        if preclaimed is not None:
            ready.extend(self.engine_step.prepare(item)
                         for item in self.claimer.adopt(todo, *preclaimed))
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
                        ready.append(self._claim(todo.popleft()))
                        taken += 1
                    else:
                        break
                item = ready.popleft()
                drain = taken < self.batch_max and not self.state.stop_requested
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

    def process_frame(self, frame_id: str, camera: str) -> str:
        """Take one frame to a terminal state, no read-ahead; returns its counter field
        (read, stale, ...), or HELD when another node holds the frame (a duplicate job)."""
        return self._complete(self._claim((frame_id, camera, ())))

    def close(self) -> None:
        """Stop the helper thread (the frames it claimed stay in running:{node})."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _reader(self) -> Any:
        """The one helper thread that claims and prepares the next frame."""
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1)
        return self._pool

    def _claim(self, entry: Todo, go: Any = None) -> Claimed:
        """Claim a frame and run the engine's prepare on it (in the helper thread too)."""
        return self.engine_step.prepare(self.claimer.claim(*entry), go)

    def _fetch_next(self, todo: "Deque[Todo]", drain: bool, go: Any = None
                    ) -> Tuple[Optional[Claimed], int]:
        """(the next frame claimed and prepared, jobs popped): the job's next frame, else
        the first frame of the next ready job on the queues; (None, 0) when there is none.
        `go` is waited for before the engine's prepare when the engine asks for that."""
        if todo:
            return self._claim(todo.popleft(), go=go), 0
        if not drain:
            return None, 0
        job = self.retry.call(self.drainer.pop, self.state.queue_names())
        if job is None:
            return None, 0
        frames = list(job.frames)
        for i, (frame_id, camera) in enumerate(frames):  # the job hash goes with its last frame
            todo.append((frame_id, camera, [job.job_key] if i == len(frames) - 1 else ()))
        return self._claim(todo.popleft(), go=go), 1  # a popped job names >= 1 frame

    def _complete(self, item: Claimed, on_detected: Optional[Callable[[], None]] = None,
                  defer: Optional[Callable[..., None]] = None) -> str:
        """Engine (unless stale or bad), then the finish; returns the record's counter field.
        With `defer`, the finish is handed to it (the helper thread) instead of done here;
        a job timeout that stopped the engine call is kept for run_job to raise."""
        later = defer or (lambda fn, *args: fn(*args))
        if item.held_elsewhere:  # a duplicate job: the node holding the frame finishes it
            log.debug("frame %s is held by another node; duplicate job skipped", item.frame_id)
            later(self.finisher.finish, None, item.cleanup)
            return HELD
        record, stopped = self.engine_step.run(item, on_detected)
        if stopped is not None:
            self._timed_out = stopped
        later(self.finisher.finish_counted, record, item.cleanup)
        return counter_field(record)
