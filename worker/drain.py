"""Adaptive draining: after RQ hands the worker one job, pop further ready frame jobs cheaply.

RQ costs ~20 round trips per job; a drained job costs one (pop + read its data in one Lua
call). Jobs are popped one at a time, by the worker's read-ahead while its current frame
is in the engine (at most one frame ahead), so pull-based load balancing between nodes is
kept. A popped job that is not a plain frame job (its data, or a hash field outside
alpr.frame_jobs.JOB_FIELDS) is pushed back to the queue front for the worker's RQ dequeue,
which refuses and counts it.
"""
from typing import Any, List, Optional, Sequence

from rq.job import Job
from rq.queue import Queue

from alpr.frame_jobs import EMPTY_FIELDS, FUNC_NAME, JOB_FIELDS, Frame, parse_frames
from alpr.job_serializer import MAX_JOB_BYTES, MsgpackSerializer, PayloadRefused, inflate

# KEYS: the queued marks (alpr.keys.Keys.queued), then the queue lists; ARGV: job key prefix,
# then 'name=0|1' per allowed hash field (1: must be empty). The popped job's frame loses its
# queued mark in the same call (the orphan sweep's test). Returns {queue index, job id, data
# ('' = the hash is gone), 1 if a field is foreign}.
_POP = """
local allowed = {}
for a = 2, #ARGV do
  local name, empty = string.match(ARGV[a], '^(.*)=([01])$')
  allowed[name] = empty
end
for i = 2, #KEYS do
  local id = redis.call('LPOP', KEYS[i])
  if id then
    redis.call('HDEL', KEYS[1], string.match(id, '^(.+)%-r%x%x%x%x%x%x$') or id)
    local h = redis.call('HGETALL', ARGV[1] .. id)
    local data, foreign = '', 0
    for f = 1, #h, 2 do
      local rule = allowed[h[f]]
      if h[f] == 'data' then data = h[f + 1] end
      if rule == nil or (rule == '1' and h[f + 1] ~= '') then foreign = 1 end
    end
    return {i - 1, id, data, foreign}
  end
end
return false
"""

JOB_KEY_PREFIX = Job.redis_job_namespace_prefix  # RQ's own: rq:job:
QUEUE_KEY_PREFIX = Queue.redis_queue_namespace_prefix  # RQ's own: rq:queue:
_FIELD_RULES = ["%s=%d" % (name, name in EMPTY_FIELDS) for name in sorted(JOB_FIELDS)]


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

    def __init__(self, redis_client: Any, queued_key: str) -> None:
        self.redis = redis_client
        self.queued_key = queued_key
        self._pop = redis_client.register_script(_POP)

    def pop(self, queue_names: Sequence[str]) -> Optional[DrainedJob]:
        """The next frame job, or None when the queues are empty or the next job is foreign."""
        keys = queue_keys(queue_names)
        if not keys:
            return None
        return self.parse(self._pop(keys=[self.queued_key] + keys,
                                    args=[JOB_KEY_PREFIX] + _FIELD_RULES), queue_names)

    def parse(self, got: Any, queue_names: Sequence[str]) -> Optional[DrainedJob]:
        """A pop reply -> DrainedJob; hands foreign jobs back to RQ, skips vanished ones."""
        if not got:
            return None
        keys = queue_keys(queue_names)
        index, raw_id, data = int(got[0]), got[1], got[2]
        foreign = len(got) > 3 and int(got[3]) == 1
        job_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        if not data and not foreign:
            return self.pop(queue_names)  # the job hash is gone: RQ skips these too
        frames = None if foreign else decode_frame_job(data)
        if frames is None:  # back to the front: the worker's RQ dequeue refuses and counts it
            self.redis.lpush(keys[index - 1], job_id)
            return None
        return DrainedJob(job_id, keys[index - 1], frames)


def queue_keys(queue_names: Sequence[str]) -> List[str]:
    return [QUEUE_KEY_PREFIX + name for name in queue_names]


def decode_frame_job(data: bytes) -> Optional[List[Frame]]:
    """Frames of a stored job's data if it is exactly an allowlisted frame job, else None."""
    try:
        body = MsgpackSerializer.loads(inflate(data, MAX_JOB_BYTES))
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
