"""Every frame's lifecycle in Redis, as atomic Lua scripts: put, claim, finish, drop, requeue, sweep.

The scripts themselves (what runs inside Redis, with their KEYS and ARGV) are in
alpr.frame_scripts; this module builds their arguments and reads their replies.

The accounting contract: a frame id enters ``inflight:{camera}`` once (counted ``produced``)
and leaves it once; whoever removes it counts its terminal state (read / stale / dropped /
failed:<reason>) and writes its result record, in the same script. So every transition is
idempotent and ``produced = read + stale + dropped + failed + in_flight`` always holds.
"""
import math
import re
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from alpr import defaults
from alpr.errors import FrameDecodeError
from alpr.frame_scripts import CLAIM, DROP_OLDEST, FINISH, MARK, ORPHANS, PUT, REQUEUE, SWEEP
from alpr.keys import Keys
from alpr.protocol import (
    RESULT_VERSION,
    STATUS_DROPPED,
    STATUS_FAILED,
    FrameEnvelope,
    ResultRecord,
    decode_frame,
    encode_frame,
    encode_result,
    as_text,
    split_evidence,
)

HELD_ELSEWHERE = object()  # claim(): another node holds the frame (this job is a duplicate)

_REASON_RE = re.compile(r"[^a-z0-9_]+")


def reason_class(reason: str) -> str:
    """Short counter-safe class of a failure reason: 'bad_image: truncated' -> 'bad_image'."""
    head = (reason or "").split(":", 1)[0].strip().lower()
    head = _REASON_RE.sub("_", head).strip("_")[:32]
    return head or "error"


def counter_field(record: ResultRecord) -> str:
    """The count:{camera} hash field a terminal record increments."""
    if record.status == STATUS_FAILED:
        return "failed:" + reason_class(record.reason)
    return record.status


class FrameStore(object):
    """Atomic frame transitions over one Redis client (see the module docstring)."""

    def __init__(self, redis_client, keys: Keys, results_maxlen: int = defaults.RESULTS_MAXLEN,
                 max_age_s: float = defaults.MAX_FRAME_AGE_S) -> None:
        self.redis = redis_client
        self.keys = keys
        self.results_maxlen = int(results_maxlen)
        self.max_age_s = float(max_age_s)
        self._finish = redis_client.register_script(FINISH)
        self._drop = redis_client.register_script(DROP_OLDEST)
        self._requeue = redis_client.register_script(REQUEUE)
        self._sweep = redis_client.register_script(SWEEP)
        self._orphans = redis_client.register_script(ORPHANS)

    # --- producer side ---------------------------------------------------------------
    def put(self, env: FrameEnvelope, queue_job_fn: Optional[Callable] = None,
            payload: Optional[bytes] = None, now: Optional[float] = None,
            cap: Optional[int] = None, client: Any = None, queue_key: str = "") -> List[str]:
        """Store the envelope (TTL = its max age), mark it in flight, count it, and with
        `cap` drop the camera's oldest waiting frames beyond it: one MULTI, one round trip.

        ``queue_job_fn(pipeline)`` adds the RQ enqueue of the job carrying the frame key to
        the same transaction, so a frame is never stored without its job or vice versa. The
        payload goes in with a plain SET beside the script (a Lua argument would be copied
        twice more). Returns the ids dropped for the cap. With ``client`` (a pipeline, no
        cap), the commands are queued there and the caller executes them (bulk loads).
        ``queue_key`` (the RQ queue's list) marks the frame queued there (mark_queued); a
        frame put with a job but no queue_key is never taken for an orphan.
        """
        data = payload if payload is not None else encode_frame(env)
        ttl_ms = max(1, int(math.ceil(env.max_age_s * 1000.0)))
        score = time.time() if now is None else now
        pipe = client if client is not None else self.redis.pipeline(transaction=True)
        if queue_job_fn is not None:
            # first: rq calls pipeline.multi(), which redis-py allows only on an empty pipeline
            queue_job_fn(pipe)
        pipe.set(self.keys.frame(env.frame_id), data, px=ttl_ms)
        # EVAL, not EVALSHA: inside MULTI a flushed script cache (Redis restart) cannot be
        # reloaded mid-transaction, and redis-py would add a SCRIPT EXISTS round trip per call
        pipe.eval(PUT, 3, self.keys.inflight(env.camera), self.keys.counts(env.camera),
                  self.keys.cameras, env.frame_id, repr(float(score)), env.camera)
        if queue_job_fn is not None and queue_key:  # its job waits there (the orphan sweep)
            self.mark_queued(env.frame_id, queue_key, pipe)
        if cap is not None:
            pipe.eval(DROP_OLDEST, 4, *self._drop_args(env.camera, cap, score))
        if client is not None:
            return []
        replies = pipe.execute()
        return [as_text(i) for i in replies[-1]] if cap is not None else []

    def mark_queued(self, frame_id: str, queue_key: str, client: Any) -> Any:
        """Queue on ``client`` (the pipeline or MULTI of the job's RPUSH) the mark saying the
        frame's job waits in ``queue_key``, numbered in push order (see requeue_orphans)."""
        return client.eval(MARK, 2, self.keys.queued, self.keys.queue_seq, frame_id, queue_key)

    def drop_oldest(self, camera: str, cap: int, now: Optional[float] = None) -> List[str]:
        """Backpressure: drop the oldest waiting frames until at most ``cap`` wait.

        Only waiting (unclaimed, unexpired) frames count against the cap, as only they can
        be dropped: claimed frames are a worker's. Each drop is counted and gets a
        ``dropped`` result record. Returns the dropped frame ids.
        """
        args = self._drop_args(camera, cap, time.time() if now is None else now)
        ids = self._drop(keys=args[:4], args=args[4:])
        return [as_text(i) for i in ids]

    def _drop_args(self, camera: str, cap: int, now: float) -> List[Any]:
        """KEYS then ARGV of the drop-oldest script."""
        return [self.keys.inflight(camera), self.keys.counts(camera), self.keys.results,
                self.keys.queued, int(cap), self.keys.frame(""), self.results_maxlen, repr(now), camera,
                RESULT_VERSION]

    # --- worker side -------------------------------------------------------------------
    def claim(self, frame_id: str, camera: str, node: str) -> Any:
        """Take a frame for processing: its envelope bytes, None if the key is gone, or
        HELD_ELSEWHERE if another node claimed it (a duplicate job; that node finishes it).

        The frame key is renamed to ``held:{id}`` (no TTL, no copy of the body) and the id
        added to ``running:{node}``, so a reaper can re-queue it if the node dies; one MULTI
        with the GET of the body. A retried claim (lost reply) gets the same body again.
        """
        pipe = self.redis.pipeline(transaction=True)
        # EVAL inside MULTI: see put()
        pipe.eval(CLAIM, 4, self.keys.frame(frame_id), self.keys.held(frame_id),
                  self.keys.running(node), self.keys.queued, frame_id, repr(time.time()))
        pipe.get(self.keys.held(frame_id))
        status, body = pipe.execute()
        if int(status) == 3:
            return HELD_ELSEWHERE
        return body if int(status) in (1, 2) else None

    def claim_with_job(self, job_key: str, frame_id: str, node: str) -> Tuple[Any, Any]:
        """(the RQ job hash, the claimed body or None): a dequeued job's HGETALL and, while
        that job exists, the claim of the frame its id names, in one MULTI (the worker's
        RQ dequeue; see worker.jobs.FrameQueue). None = nothing claimed here (the frame is
        gone, held elsewhere or not a frame at all); the job then claims as usual."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(job_key)
        pipe.eval(CLAIM, 5, self.keys.frame(frame_id), self.keys.held(frame_id),
                  self.keys.running(node), self.keys.queued, job_key, frame_id,
                  repr(time.time()))
        pipe.get(self.keys.held(frame_id))
        data, status, body = pipe.execute()
        return data, (body if int(status) in (1, 2) else None)

    def finish(self, record: ResultRecord, node: str = "", client=None) -> bool:
        """Terminal transition: count + XADD the record only if this call removed the id.

        Always clears the node's running entry. Returns whether it counted (False = the frame
        was already terminal, e.g. dropped, swept or finished by a re-queued copy). With
        ``client`` (a pipeline) the call is queued there and its reply is 1/0 in execute().
        """
        record, evidence = split_evidence(record)
        fields = encode_result(record)
        ttl_ms = max(1, int(math.ceil(self.max_age_s * 1000.0)))
        args = [record.frame_id, counter_field(record), self.results_maxlen, ttl_ms,
                evidence or b""]
        for name, value in fields.items():
            args.extend([name, value])
        keys = [self.keys.inflight(record.camera), self.keys.counts(record.camera),
                self.keys.results, self.keys.running(node) if node else "",
                self.keys.frame(record.frame_id), self.keys.held(record.frame_id),
                self.keys.queued,
                # the evidence (crops, snapshot) is set before the XADD that announces it,
                # and only by the finish that counts the frame
                self.keys.evidence(record.frame_id) if evidence is not None else ""]
        if client is not None:  # a pipeline: the caller executes it (see put for why EVAL)
            return client.eval(FINISH, len(keys), *(keys + args))
        return bool(self._finish(keys=keys, args=args))

    # --- reaper side -------------------------------------------------------------------
    def requeue_node(self, node: str, now: Optional[float] = None,
                     frame_ids: Optional[Sequence[str]] = None,
                     hold_limit_s: Optional[float] = None
                     ) -> Tuple[List[Tuple[str, str]], List[str]]:
        """For a dead node: put fresh running frames back (caller enqueues their jobs), fail the rest.

        ``frame_ids`` limits it to those of the node's frames (a live node giving one back).
        A frame the node has held longer than ``hold_limit_s`` (the job timeout: it sat in a
        stuck engine, or beside it) is failed ``timeout`` instead of re-queued, so a frame
        that hangs engines cannot hop from node to node. Returns ([(frame_id, camera) to
        re-enqueue], [frame ids finished as failed:node_lost or failed:timeout]).
        """
        now = time.time() if now is None else now
        running_key = self.keys.running(node)
        requeued = []  # type: List[Tuple[str, str]]
        failed = []  # type: List[str]
        held_since = self.held_since(node)
        ids = list(frame_ids) if frame_ids is not None else sorted(held_since)
        pipe = self.redis.pipeline(transaction=False)
        for frame_id in ids:
            pipe.get(self.keys.held(frame_id))
        bodies = pipe.execute() if ids else []
        for frame_id, payload in zip(ids, bodies):
            try:
                if payload is None:
                    raise FrameDecodeError("its body is gone")
                env = decode_frame(payload)
                if env.frame_id != frame_id:
                    raise FrameDecodeError("envelope names another frame")
            except FrameDecodeError:
                # cannot name its camera; sweep_lost later counts the id as failed:lost
                if self.redis.hdel(running_key, frame_id) and payload is not None:
                    self.redis.delete(self.keys.held(frame_id))  # an undecodable body
                continue
            remaining_ms = int((env.max_age_s - env.age(now)) * 1000.0)
            held_s = now - held_since[frame_id] if held_since.get(frame_id) else 0.0
            too_long = hold_limit_s is not None and held_s > hold_limit_s
            if remaining_ms > 0 and not too_long:
                done = self._requeue(
                    keys=[running_key, self.keys.frame(frame_id), self.keys.inflight(env.camera),
                          self.keys.held(frame_id), self.keys.queued],
                    args=[frame_id, remaining_ms])
                if done == 1:
                    requeued.append((frame_id, env.camera))
                continue  # 0: another reaper has it; -1: already terminal
            reason = ("timeout: %s held the frame %.1f s (limit %.1f s)" % (node, held_s, hold_limit_s)
                      if too_long else "node_lost: %s stopped mid-frame" % node)
            record = ResultRecord(frame_id=frame_id, camera=env.camera, status=STATUS_FAILED,
                                  node=node, reason=reason,
                                  ts=env.ts, seq=env.seq, site=env.site, truth=env.truth)
            if self.finish(record, node=node):
                failed.append(frame_id)
        return requeued, failed

    def held_since(self, node: str) -> Dict[str, float]:
        """{frame id: claim time} of the frames ``node`` holds (0.0 for entries written
        without a time, by an older worker)."""
        out = {}  # type: Dict[str, float]
        for frame_id, value in self.redis.hgetall(self.keys.running(node)).items():
            try:
                out[as_text(frame_id)] = float(as_text(value) or 0.0)
            except ValueError:
                out[as_text(frame_id)] = 0.0
        return out

    def sweep_lost(self, camera: str, now: Optional[float] = None,
                   grace: float = defaults.REAPER_GRACE_S,
                   max_age_s: Optional[float] = None, job_prefix: str = "",
                   queued_hold_s: float = defaults.QUEUED_HOLD_S) -> List[str]:
        """Fail as ``lost`` in-flight ids older than max age + grace that nobody holds any more.

        'Nobody holds' = no frame key and in no ``running:{node}`` hash (e.g. the RQ job vanished
        in a Redis restart without persistence). A frame whose RQ job (id = frame id) still
        waits in a queue is held for ``queued_hold_s`` more, so a backlog is answered ``stale``
        by the worker rather than ``lost``. Returns the ids it failed.
        """
        now = time.time() if now is None else now
        age = self.max_age_s if max_age_s is None else max_age_s
        nodes = sorted(as_text(n) for n in self.redis.smembers(self.keys.nodes))
        ids = self._sweep(
            keys=[self.keys.inflight(camera), self.keys.counts(camera), self.keys.results,
                  self.keys.queued] + [self.keys.running(n) for n in nodes],
            args=[repr(now - age - grace), self.keys.frame(""), self.results_maxlen, repr(now),
                  camera, RESULT_VERSION, job_prefix or "",
                  repr(now - age - grace - queued_hold_s)])
        return [as_text(i) for i in ids]

    def requeue_orphans(self, camera: str, now: Optional[float] = None,
                        after_s: float = defaults.ORPHAN_AFTER_S) -> List[str]:
        """In-flight frames whose job vanished while their key lives: ids to enqueue again.

        A frame counts once it was seen, twice and ``after_s`` apart, with its key present, on
        no node and its job popped without a claim: not marked queued any more (a drain pop),
        or marked with a push number older than its queue's head (RQ's blocking pop; lists
        are FIFO). A duplicate job is harmless: a claim finds the frame held (or gone) and
        counts nothing. The cost does not grow with the queues (only their heads are read):
        O(the camera's in-flight frames x nodes).
        """
        now = time.time() if now is None else now
        nodes = sorted(as_text(n) for n in self.redis.smembers(self.keys.nodes))
        ids = self._orphans(
            keys=[self.keys.inflight(camera), self._suspects(camera), self.keys.queued]
            + [self.keys.running(n) for n in nodes],
            args=[repr(now - after_s), self.keys.frame(""), repr(now), repr(float(after_s))])
        return [as_text(i) for i in ids]

    def _suspects(self, camera: str) -> str:
        return self.keys.orphans(camera)

    # --- reading -----------------------------------------------------------------------
    def counts(self, camera: str) -> Dict[str, int]:
        """The camera's counters (produced, read, stale, dropped, failed:<reason>) as ints."""
        raw = self.redis.hgetall(self.keys.counts(camera))
        return {as_text(k): int(v) for k, v in raw.items()}

    def in_flight(self, camera: str) -> int:
        """Frames of the camera produced but not yet terminal."""
        return int(self.redis.zcard(self.keys.inflight(camera)))

    def cameras(self) -> List[str]:
        """Every camera that ever produced a frame."""
        return sorted(as_text(c) for c in self.redis.smembers(self.keys.cameras))

    def accounting(self, camera: str) -> Dict[str, int]:
        """Counters folded to produced/read/stale/dropped/failed/in_flight (failed = all reasons)."""
        counts = self.counts(camera)
        failed = sum(v for k, v in counts.items() if k.startswith("failed"))
        return {"produced": counts.get("produced", 0), "read": counts.get("read", 0),
                "stale": counts.get("stale", 0), "dropped": counts.get(STATUS_DROPPED, 0),
                "failed": failed, "in_flight": self.in_flight(camera)}
