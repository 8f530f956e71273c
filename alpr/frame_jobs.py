"""The RQ wire format of a frame job: the function it names, its fields, its argument, its id.

A job carries only frame keys ``[[frame_id, camera], ...]``, never pixels, in msgpack
(alpr.job_serializer). The producer's job id is the frame id; a job put back for one frame
(reaper, orphan sweep, a frame given back) is the frame id + ``-r<6 hex>``. Producers and the
dispatcher enqueue with these functions; the worker refuses anything else (worker.jobs) and
runs FUNC_NAME in-process.
"""
import string
import uuid
from typing import Any, List, Optional, Sequence, Tuple

from rq.queue import Queue

from alpr import defaults
from alpr.job_serializer import MsgpackSerializer
from alpr.protocol import MAX_ID_LEN

#: the one job function a worker runs (named, never imported, by producers and the dispatcher)
FUNC_NAME = "worker.jobs.process_frames"
ALLOWED_FUNCTIONS = frozenset([FUNC_NAME])
MAX_FRAMES_PER_JOB = 256  # a job is a micro-batch of keys; more is malformed

# The job hash fields RQ's own enqueue writes for a frame job (rq 1.15 and 3.x), and the ones
# of them that must stay empty: RQ imports and calls what they name. Any other field (a
# dependency, retries, webhooks, meta, ...) is something RQ would act on: the job is refused.
JOB_FIELDS = frozenset(["status", "created_at", "data", "started_at", "ended_at", "last_heartbeat",
                        "worker_name", "origin", "description", "enqueued_at", "timeout",
                        "result_ttl", "failure_ttl", "success_callback_name",
                        "failure_callback_name", "stopped_callback_name", "group_id"])
EMPTY_FIELDS = frozenset(["success_callback_name", "failure_callback_name",
                          "stopped_callback_name", "group_id"])

Frame = Tuple[str, str]  # (frame_id, camera)


def parse_frames(value: Any) -> List[Frame]:
    """Validate a job's frames argument: a list of [frame_id, camera] text pairs."""
    if not isinstance(value, (list, tuple)) or not 0 < len(value) <= MAX_FRAMES_PER_JOB:
        raise ValueError("frames must be a non-empty list of at most %d pairs" % MAX_FRAMES_PER_JOB)
    out = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not all(isinstance(v, str) and 0 < len(v) <= MAX_ID_LEN for v in item)):
            raise ValueError("each frame must be [frame_id, camera] text")
        out.append((item[0], item[1]))
    return out


def frame_id_of_job(job_id: str) -> str:
    """The frame a job id names: the producer's job id is the frame id; a re-queued job's
    id is the frame id + ``-r<6 hex>`` (requeue_job_id)."""
    head, sep, tail = job_id.rpartition("-r")
    if sep and head and len(tail) == 6 and all(c in string.hexdigits for c in tail):
        return head
    return job_id


def requeue_job_id(frame_id: str) -> str:
    """Id of a job re-enqueued for one frame: the frame id + ``-r<hex>`` (the orphan sweep
    recognises a frame's queued job by it; the producer's own job id is the frame id)."""
    return "%s-r%s" % (frame_id, uuid.uuid4().hex[:6])


def job_queue(name: str, connection: Any, timeout: int = defaults.JOB_TIMEOUT_S) -> Any:
    """An rq.Queue speaking msgpack, to enqueue frame jobs on (the worker's own queue class,
    which claims while it dequeues, is worker.jobs.make_queue)."""
    return Queue(name, connection=connection, serializer=MsgpackSerializer,
                 default_timeout=timeout)


def enqueue_frames(queue: Any, frames: Sequence[Frame], pipeline: Any = None,
                   job_id: Optional[str] = None, result_ttl: int = defaults.RESULT_TTL_S,
                   failure_ttl: int = defaults.FAILURE_TTL_S,
                   timeout: int = defaults.JOB_TIMEOUT_S) -> Any:
    """Enqueue one job naming the frames (ids + cameras only); inside ``pipeline`` if given."""
    frames = [[str(f), str(c)] for f, c in frames]
    return queue.enqueue_call(
        FUNC_NAME, args=(frames,), timeout=timeout, result_ttl=result_ttl,
        failure_ttl=failure_ttl, job_id=job_id, pipeline=pipeline,
        description="frames %s" % ",".join("%s/%s" % (c, f) for f, c in frames[:4]))


def enqueue_requeued(queue: Any, frames: Sequence[Frame], store: Any = None,
                     result_ttl: int = defaults.RESULT_TTL_S,
                     failure_ttl: int = defaults.FAILURE_TTL_S,
                     timeout: int = defaults.JOB_TIMEOUT_S) -> None:
    """One job per frame put back (reaper, restarted node, a frame given back, the orphan
    sweep), id = frame id + ``-r<hex>``; with ``store`` (a FrameStore) the frame is marked
    queued in the same MULTI as the job's RPUSH, as the producer's put does."""
    for frame_id, camera in frames:
        if store is None:
            enqueue_frames(queue, [(frame_id, camera)], job_id=requeue_job_id(frame_id),
                           result_ttl=result_ttl, failure_ttl=failure_ttl, timeout=timeout)
            continue
        pipe = queue.connection.pipeline(transaction=True)
        enqueue_frames(queue, [(frame_id, camera)], pipeline=pipe,
                       job_id=requeue_job_id(frame_id), result_ttl=result_ttl,
                       failure_ttl=failure_ttl, timeout=timeout)
        store.mark_queued(frame_id, queue.key, pipe)
        pipe.execute()
