"""Adaptive draining: after RQ hands the worker one job, pop further ready frame jobs cheaply.

RQ costs ~20 round trips per job; a drained job costs one (pop + read its data in one Lua
call). Jobs are popped one at a time, by the worker's read-ahead while its current frame
is in the engine (at most one frame ahead), so pull-based load balancing between nodes is
kept. A popped job that is not a plain frame job is pushed back
to the queue front for RQ's normal path (which refuses and counts it).
"""
import zlib
from typing import Any, List, Optional, Sequence, Tuple

from worker.jobs import FUNC_NAME, Frame, parse_frames
from worker.serializer import MsgpackSerializer, PayloadRefused

_POP = """
for i = 1, #KEYS do
  local id = redis.call('LPOP', KEYS[i])
  if id then
    return {i, id, redis.call('HGET', ARGV[1] .. id, 'data') or ''}
  end
end
return false
"""

JOB_KEY_PREFIX = "rq:job:"
QUEUE_KEY_PREFIX = "rq:queue:"


class DrainedJob(object):
    """One job taken off a queue by the drainer: its id, queue key and frames."""

    def __init__(self, job_id: str, queue_key: str, frames: List[Frame]) -> None:
        self.job_id = job_id
        self.queue_key = queue_key
        self.frames = frames

    @property
    def job_key(self) -> str:
        return JOB_KEY_PREFIX + self.job_id


class Drainer(object):
    """Pops the next ready frame job from a list of RQ queues (first queue first)."""

    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client
        self._pop = redis_client.register_script(_POP)

    def pop(self, queue_names: Sequence[str]) -> Optional[DrainedJob]:
        """The next frame job, or None when the queues are empty or the next job is foreign."""
        keys = queue_keys(queue_names)
        if not keys:
            return None
        return self.parse(self._pop(keys=keys, args=[JOB_KEY_PREFIX]), queue_names)

    def parse(self, got: Any, queue_names: Sequence[str]) -> Optional[DrainedJob]:
        """A pop reply -> DrainedJob; hands foreign jobs back to RQ, skips vanished ones."""
        if not got:
            return None
        keys = queue_keys(queue_names)
        index, raw_id, data = int(got[0]), got[1], got[2]
        job_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        if not data:
            return self.pop(queue_names)  # the job hash is gone: RQ skips these too
        frames = decode_frame_job(data)
        if frames is None:
            self.redis.lpush(keys[index - 1], job_id)  # RQ's path refuses and counts it
            return None
        return DrainedJob(job_id, keys[index - 1], frames)


def queue_keys(queue_names: Sequence[str]) -> List[str]:
    return [QUEUE_KEY_PREFIX + name for name in queue_names]


def decode_frame_job(data: bytes) -> Optional[List[Frame]]:
    """Frames of a stored job's data if it is exactly an allowlisted frame job, else None."""
    try:
        raw = zlib.decompress(data)
    except zlib.error:
        raw = data
    try:
        body = MsgpackSerializer.loads(raw)
    except PayloadRefused:
        return None
    if not isinstance(body, list) or len(body) != 4:
        return None
    func_name, instance, args, kwargs = body
    if func_name != FUNC_NAME or instance is not None or kwargs or not args:
        return None
    try:
        return parse_frames(args[0])
    except ValueError:
        return None
