"""The worker's side of the RQ wire: the one allowlisted job function, the refusing Job class, the claiming queue.

A job carries only frame keys (its format: alpr.frame_jobs). The worker runs
only functions named in ALLOWED_FUNCTIONS; anything else (``os.system``, ``builtins.eval``),
a payload that is not msgpack, keyword arguments, or a job hash field RQ would act on
(callbacks, dependencies, retries, webhooks: anything outside JOB_FIELDS) is refused before
any import or call, and the refused job never enters RQ's execution path (worker.node).
"""
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.queue import Queue

try:  # rq >= 2
    from rq.exceptions import StopRequested
except ImportError:  # rq 1.x (the Nano's pin)
    from rq.worker import StopRequested

from alpr import defaults
from alpr.errors import RefusedJobError
from alpr.frame_jobs import (ALLOWED_FUNCTIONS, EMPTY_FIELDS, JOB_FIELDS, Frame, frame_id_of_job,
                             parse_frames)
from alpr.protocol import as_text
from alpr.job_serializer import MAX_JOB_BYTES, MsgpackSerializer, PayloadRefused, inflate

log = logging.getLogger(__name__)


def process_frames(frames: Sequence[Sequence[str]]) -> Dict[str, int]:
    """The job function frame jobs name. `alpr worker` never calls it: FleetWorker runs frame
    jobs on its own path (worker.node, worker.processor); called anywhere else it refuses."""
    parse_frames(frames)
    raise RuntimeError("process_frames runs only inside `alpr worker` (frame jobs take its "
                       "fast path, not RQ's job call)")


def field_refusal(fields: Dict[str, Any]) -> Optional[str]:
    """Why a job hash (field -> raw value) is not a plain frame job, or None."""
    for name in sorted(fields):
        if name not in JOB_FIELDS:
            return "job field %r is not allowed" % (name[:100],)
        if name in EMPTY_FIELDS and fields[name] not in (b"", "", None):
            return "job field %r must be empty" % (name,)
    return None


def refusal(job: Job) -> Optional[Tuple[str, str]]:
    """None if the job may run, else (security counter, reason) — decided without importing."""
    broken = getattr(job, "restore_error", None)
    if broken is not None:
        return "refused_payload", "job hash refused: %s" % broken
    fields = getattr(job, "stored_fields", None)
    if fields is not None:
        reason = field_refusal(fields)
        if reason is not None:
            return "refused_field", reason
    try:
        name = job.func_name
        instance = job.instance
        args, kwargs = job.args, job.kwargs
    except DeserializationError as exc:
        cause = exc.__cause__ or exc
        return "refused_payload", "payload refused: %s" % cause
    if instance is not None:
        return "refused_function", "instance methods are not allowed"
    if name not in ALLOWED_FUNCTIONS:
        return "refused_function", "function %r is not in the allowlist" % (str(name)[:200],)
    if kwargs:
        return "refused_args", "keyword arguments are not allowed"
    try:
        if not isinstance(args, (list, tuple)) or len(args) != 1:
            raise ValueError("a frame job takes one argument")
        parse_frames(args[0])
    except ValueError as exc:
        return "refused_args", str(exc)
    return None


def frames_of(job: Job) -> List[Frame]:
    """The frames a (possibly refused) job names, or [] when its arguments do not decode."""
    try:
        args = job.args
        return parse_frames(args[0]) if args else []
    except Exception:
        return []


class DequeueGate(object):
    """A node's dequeue as its SIGTERM handler sees it. RQ stops a worker that runs no job
    at once, by raising from the handler; inside the dequeue that can fall after the pop
    of a job and its frame's claim, before the job runs, leaving the frame to the fleet
    watch. So a stop while `busy` is only noted (`stop`): the popped job runs, or, after an
    empty pop (at most DEQUEUE_POLL_S), the next dequeue raises the stop instead."""

    def __init__(self) -> None:
        self.busy = False
        self.stop = False


class AllowlistJob(Job):
    """An RQ Job whose ``func`` refuses anything outside ALLOWED_FUNCTIONS before importing it.

    Fetched by the worker's dequeue (FrameQueue) through its claiming subclass (`claiming`),
    it also claims the frame its id names in the same round trip; ``preclaimed`` is then
    ``(frame_id, body, ms)``. Nothing is decided from that: the job is checked as any other,
    and the worker runs or gives back the frame.
    """

    # (job key, frame id) -> (job hash, body or None); set only on a `claiming` subclass
    claim_with_job = None  # type: Optional[Callable[[str, str], Tuple[Any, Any]]]

    preclaimed = None  # type: Optional[Tuple[str, bytes, float]]  # id, body, claim ms
    stored_fields = None  # type: Optional[Dict[str, Any]]  # the job hash as restored
    restore_error = None  # type: Optional[str]  # why RQ's restore of the hash failed

    def restore(self, raw_data: Any) -> Any:
        """RQ's restore, keeping the raw fields for the refusal check. A hash with a field
        outside JOB_FIELDS is not given to RQ's restore at all (only its data, inflated
        within MAX_JOB_BYTES, so the refusal can name its frames); one RQ cannot parse
        (garbage timeout, dates, ...) leaves ``restore_error`` instead of raising."""
        self.stored_fields = {as_text(k): v for k, v in dict(raw_data or {}).items()}
        try:
            data = inflate(self.stored_fields.get("data") or b"", MAX_JOB_BYTES)
        except PayloadRefused as exc:  # RQ's own zlib.decompress has no limit
            self.restore_error = str(exc)
            return None
        if field_refusal(self.stored_fields) is not None:
            self.data = data
            return None
        try:
            return super().restore(raw_data)
        except Exception as exc:  # RQ raises ValueError, KeyError, TypeError... on garbage
            self.restore_error = "%s: %s" % (type(exc).__name__, str(exc)[:200])
            return None

    @property
    def func(self):
        refused = refusal(self)
        if refused is not None:
            raise RefusedJobError(refused[1])
        return super().func

    # Whatever path reaches a job of this class (RQ's registry cleanups included), the
    # callback names stored in its hash are never imported, nor called.
    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def send_webhooks(self, *args: Any, **kwargs: Any) -> None:
        """rq >= 3 POSTs to URLs stored in the job hash; a frame job has none to send."""
        return None

    @classmethod
    def claiming(cls, claim: Callable[[str, str], Tuple[Any, Any]],
                 gate: Optional[DequeueGate] = None) -> Any:
        """A subclass whose fetch claims the job's frame with ``claim`` (a node's
        worker.claim.Claimer.claim_with_job); only the worker's dequeue fetches with it,
        inside ``gate``."""
        return type(cls.__name__, (cls,), {"claim_with_job": staticmethod(claim),
                                           "gate": gate or DequeueGate()})

    @classmethod
    def fetch(cls, id: str, connection: Any = None, serializer: Any = None) -> "AllowlistJob":
        claim = cls.claim_with_job
        if claim is None or connection is None or ":" in str(id):
            return super().fetch(id, connection=connection, serializer=serializer)
        job = cls(id, connection=connection, serializer=serializer)
        frame_id = frame_id_of_job(job.id)
        started = time.time()
        data, body = claim(job.key, frame_id)
        if not data:  # nothing was claimed either: the claim needs the job hash to exist
            raise NoSuchJobError("No such job: %s" % job.key)
        job.restore(data)
        if body is not None:
            job.preclaimed = (frame_id, body, (time.time() - started) * 1000.0)
        return job


class FrameQueue(Queue):
    """The worker's RQ queue class: RQ's dequeue, with the popped job's hash read in the
    one round trip that also claims its frame (one round trip less per frame), on queues a
    node armed with its claiming job class (worker.claim.Claimer.arm)."""

    claiming_job_class = None  # type: Any  # set on a worker's own queue objects only

    @classmethod
    def dequeue_any(cls, queues: Any, *args: Any, **kwargs: Any) -> Any:
        claiming = next((q.claiming_job_class for q in queues
                         if getattr(q, "claiming_job_class", None) is not None), None)
        if claiming is None:
            return super().dequeue_any(queues, *args, **kwargs)
        plain = kwargs.get("job_class")
        kwargs["job_class"] = claiming
        gate = claiming.gate
        if gate.stop:
            raise StopRequested()
        gate.busy = True
        try:
            got = super().dequeue_any(queues, *args, **kwargs)
        finally:
            gate.busy = False
        if got is not None and plain is not None:
            got[1].job_class = plain  # the popped job's queue, as RQ would have built it
        return got


def make_queue(name: str, connection: Any, timeout: int = defaults.JOB_TIMEOUT_S) -> Any:
    """The worker's rq.Queue (FrameQueue: its dequeue claims) speaking msgpack with the
    allowlisting Job class (to enqueue, alpr.frame_jobs.job_queue is enough)."""
    return FrameQueue(name, connection=connection, serializer=MsgpackSerializer,
                      job_class=AllowlistJob, default_timeout=timeout)
