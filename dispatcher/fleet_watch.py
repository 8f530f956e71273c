"""Fleet watch: which nodes are alive, how fast they run, how deep the queues are, and the reaper.

The reaper is why a dead node costs seconds, not RQ's 600 s maintenance pass: a node
whose heartbeat key lapsed for longer than `grace_s` has its running frames re-queued
(if still fresh) or answered `failed:node_lost`; in-flight frames that nobody holds any
more (e.g. their job vanished with a Redis restart) are answered `failed:lost`. A frame a
node has held longer than `hold_limit_s` (the job timeout plus a grace) is answered
`failed:timeout`, whether the node still heartbeats (stuck but alive) or not.
"""
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import as_number, as_text

log = logging.getLogger(__name__)

RequeueFn = Callable[[List[Tuple[str, str]]], Any]  # [(frame_id, camera)] -> enqueue jobs

# KEYS: watch mark, cameras set, then count:{cam}, inflight:{cam} per camera; ARGV: '1' if
# this watcher has a snapshot (it may set the mark), then per camera its name, the
# snapshot's produced (-1: none) and in-flight. Returns per camera {produced, in flight,
# frames added back}. The mark is absent only on a Redis that lost its data (or a fresh
# one): the first watcher to see that adds the loss back and sets it; any other watcher
# then finds it set, so a loss is counted once however many watchers run.
_FORGOTTEN = """
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local mine = fresh and ARGV[1] == '1'
local out = {}
for c = 1, (#KEYS - 2) / 2 do
  local counts, inflight = KEYS[1 + 2 * c], KEYS[2 + 2 * c]
  local produced = tonumber(redis.call('HGET', counts, 'produced') or '0')
  local had, held = tonumber(ARGV[3 * c]), tonumber(ARGV[3 * c + 1])
  local added = 0
  if mine and produced < had and held > 0 then
    redis.call('HINCRBY', counts, 'produced', held)
    redis.call('HINCRBY', counts, 'failed:lost', held)
    redis.call('SADD', KEYS[2], ARGV[3 * c - 1])
    produced = produced + held
    added = held
  end
  out[#out + 1] = produced
  out[#out + 1] = redis.call('ZCARD', inflight)
  out[#out + 1] = added
end
if mine then redis.call('SET', KEYS[1], '1') end
return out
"""


def rq_queue_key(name: str) -> str:
    """The Redis list RQ keeps a queue's job ids in (RQ's own prefix, from its Queue class)."""
    from rq.queue import Queue

    return Queue.redis_queue_namespace_prefix + name


def rq_job_prefix() -> str:
    """The prefix of RQ's job hashes, from its Job class."""
    from rq.job import Job

    return Job.redis_job_namespace_prefix


class FleetWatch(object):
    """Reads node heartbeats/stats and queue depths; reaps dead nodes' frames."""

    def __init__(self, redis: Any, keys: Keys, store: FrameStore, shared_queue: str,
                 requeue_fn: Optional[RequeueFn] = None, grace_s: float = 3.0,
                 sweep_every_s: float = 1.0, hold_limit_s: Optional[float] = None) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store
        self.shared_queue = shared_queue
        self.requeue_fn = requeue_fn
        self.grace_s = float(grace_s)
        self.sweep_every_s = float(sweep_every_s)
        self.hold_limit_s = None if hold_limit_s is None else float(hold_limit_s)
        self._dead_since = {}  # type: Dict[str, float]
        self._next_sweep = 0.0
        self._snapshot = {}  # type: Dict[str, Tuple[int, int]]  # camera -> (produced, in flight)
        self._snapshotted = False  # a first tick only takes the snapshot (see account_forgotten)
        self._forgotten = redis.register_script(_FORGOTTEN)
        self.stats = {"requeued": 0, "node_lost": 0, "lost": 0, "reaped_nodes": 0, "forgotten": 0,
                      "orphans": 0, "timeout": 0}

    # --- reading -------------------------------------------------------------------------
    def node_names(self) -> List[str]:
        return sorted(as_text(n) for n in self.redis.smembers(self.keys.nodes))

    def nodes(self) -> List[Dict[str, Any]]:
        """One dict per registered node: name, alive, drained, running, and its stats hash."""
        names = self.node_names()
        if not names:
            return []
        drained = set(as_text(n) for n in self.redis.smembers(self.keys.drained()))
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(self.keys.node_alive(name))
            pipe.hgetall(self.keys.node_stats(name))
            pipe.hlen(self.keys.running(name))
        replies = pipe.execute()
        out = []
        for i, name in enumerate(names):
            alive, stats, running = replies[3 * i:3 * i + 3]
            out.append({"name": name, "alive": bool(alive), "drained": name in drained,
                        "running": int(running),
                        "stats": {as_text(k): as_number(v) for k, v in (stats or {}).items()}})
        return out

    def queue_depths(self) -> Dict[str, int]:
        """Jobs waiting in each of this fleet's queues (queue_names)."""
        names = self.queue_names()
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.llen(rq_queue_key(name))
        return {name: int(depth) for name, depth in zip(names, pipe.execute())}

    def queue_names(self) -> List[str]:
        """This fleet's queues: the shared one, every node queue and any other RQ queue
        (RQ's set of queues) whose name is under the namespace; another fleet's are not ours."""
        from rq.queue import Queue

        names = set([self.shared_queue] + [self.keys.node_queue(n) for n in self.node_names()])
        own = rq_queue_key(self.keys.queue(""))
        for key in self.redis.smembers(Queue.redis_queues_keys):
            key = as_text(key)
            if key.startswith(own) and not key.endswith(":intermediate"):
                names.add(key[len(Queue.redis_queue_namespace_prefix):])
        return sorted(names)

    # --- acting -----------------------------------------------------------------------------
    def tick(self, now: Optional[float] = None) -> Dict[str, int]:
        """Reap nodes dead for longer than the grace time; sweep lost frames now and then."""
        now = time.time() if now is None else now
        done = {"requeued": 0, "node_lost": 0, "lost": 0, "forgotten": 0}
        names = self.node_names()
        if names:
            pipe = self.redis.pipeline(transaction=False)
            for name in names:
                pipe.exists(self.keys.node_alive(name))
                pipe.hgetall(self.keys.running(name))  # a node holds a frame or two: tiny
            replies = pipe.execute()
            for i, name in enumerate(names):
                alive, running = replies[2 * i], replies[2 * i + 1]
                if alive and running:
                    self.stats["timeout"] += self.reap_overdue(name, running, now)
                if alive or not running:
                    self._dead_since.pop(name, None)
                    continue
                since = self._dead_since.setdefault(name, now)
                if now - since >= self.grace_s:
                    requeued, failed = self.reap(name, now)
                    done["requeued"] += requeued
                    done["node_lost"] += failed
                    self._dead_since.pop(name, None)
        done["forgotten"] = self.account_forgotten()
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_every_s
            for camera in self.store.cameras():
                if self.requeue_fn is not None:  # jobs a crash or a kill ate: enqueue again
                    orphans = self.store.requeue_orphans(camera, now=now)
                    if orphans:
                        self.requeue_fn([(frame_id, camera) for frame_id in orphans])
                        log.warning("camera %s: %d stored frames had lost their job; re-queued",
                                    camera, len(orphans))
                    self.stats["orphans"] += len(orphans)
                lost = self.store.sweep_lost(camera, now=now, grace=self.grace_s,
                                             job_prefix=rq_job_prefix())
                if lost:
                    log.warning("camera %s: %d in-flight frames vanished, counted failed:lost",
                                camera, len(lost))
                done["lost"] += len(lost)
        for key, value in done.items():
            self.stats[key] += value
        return done

    def account_forgotten(self) -> int:
        """Count as failed:lost the frames a Redis that lost its data (restart without persistence) forgot.

        Counters only grow, so a camera whose `produced` went down has lost its state: the
        frames it had in flight at the last snapshot are added back as produced and
        failed:lost on the new server, so the loss shows in `alpr status` instead of vanishing.
        With several watchers, each holding its own snapshot, only one adds a loss back: the
        `watch_mark` key vanishes with the data, and the first watcher to find it gone (one
        Lua call: compare, add back, set the mark) is the one that counts.
        """
        cams = sorted(set(self.store.cameras()) | set(self._snapshot))
        args = ["1" if self._snapshotted else "0"]
        keys = [self.keys.watch_mark, self.keys.cameras]
        for cam in cams:
            produced, in_flight = self._snapshot.get(cam, (-1, 0))
            args += [cam, str(produced), str(in_flight)]
            keys += [self.keys.counts(cam), self.keys.inflight(cam)]
        replies = self._forgotten(keys=keys, args=args, client=self.redis)
        now_counts = {}  # type: Dict[str, Tuple[int, int]]
        forgotten = {}  # type: Dict[str, int]
        for i, cam in enumerate(cams):
            produced, in_flight, added = (int(v) for v in replies[3 * i:3 * i + 3])
            now_counts[cam] = (produced, in_flight)
            if added:
                forgotten[cam] = added
        if forgotten:
            log.warning("Redis lost its data (restart without persistence?): %s frames in flight "
                        "counted failed:lost", ", ".join("%s=%d" % kv for kv in sorted(forgotten.items())))
        self._snapshot = now_counts
        self._snapshotted = True
        return sum(forgotten.values())

    def reap_overdue(self, node: str, running: Dict[Any, Any], now: float) -> int:
        """Fail as `timeout` the frames a live node has held past the hold limit (a stuck
        engine that still heartbeats); the node's own late finish then counts nothing."""
        if self.hold_limit_s is None:
            return 0
        overdue = []
        for frame_id, since in running.items():
            try:
                since = float(as_text(since) or 0.0)
            except ValueError:
                continue
            if since and now - since > self.hold_limit_s:
                overdue.append(as_text(frame_id))
        if not overdue:
            return 0
        requeued, failed = self.store.requeue_node(node, now=now, frame_ids=overdue,
                                                   hold_limit_s=self.hold_limit_s)
        if requeued and self.requeue_fn is not None:
            self.requeue_fn(requeued)
        if failed:
            log.warning("node %s heartbeats but has held %d frames over %.0f s: failed:timeout",
                        node, len(failed), self.hold_limit_s)
        return len(failed)

    def reap(self, node: str, now: Optional[float] = None) -> Tuple[int, int]:
        """Re-queue a dead node's fresh frames and fail the stale ones; (requeued, failed)."""
        requeued, failed = self.store.requeue_node(node, now=now, hold_limit_s=self.hold_limit_s)
        if requeued and self.requeue_fn is not None:
            self.requeue_fn(requeued)
        if requeued or failed:
            self.stats["reaped_nodes"] += 1
            log.warning("node %s stopped heartbeating: %d frames re-queued, %d failed:node_lost",
                        node, len(requeued), len(failed))
        return len(requeued), len(failed)


def drain(redis: Any, keys: Keys, node: str) -> bool:
    """Stop a node taking shared-queue work (it keeps its own queue); True if newly drained."""
    return bool(redis.sadd(keys.drained(), node))


def undrain(redis: Any, keys: Keys, node: str) -> bool:
    """Let a drained node take shared-queue work again; True if it was drained."""
    return bool(redis.srem(keys.drained(), node))
