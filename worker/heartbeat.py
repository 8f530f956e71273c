"""The node's own liveness signal: RQ's SimpleWorker sends none while a job runs.

Every period: SET node:{name}:alive EX period*factor, HSET node:{name}:stats (fps, latency,
frames, engine), SADD nodes, and read whether an operator drained the node. Survives Redis
outages (logs once, keeps trying). Beats only while ``stuck()`` says the engine makes
progress (worker.liveness): a stuck node lets its alive key lapse, shows ``state=stuck`` and
stops touching the systemd watchdog's progress file.
"""
import logging
import os
import socket
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, Optional

from alpr import defaults
from alpr.keys import Keys

log = logging.getLogger(__name__)


def process_token() -> str:
    """A per-process id (pid + random) stored in the node's alive key."""
    return "%d.%s" % (os.getpid(), uuid.uuid4().hex[:8])


class Heartbeat(object):
    """A daemon thread beating for one node; ``on_drained(bool)`` reports drain changes."""

    def __init__(self, redis_client: Any, keys: Keys, node: str, stats: Callable[[], Dict[str, Any]],
                 on_drained: Callable[[bool], None], period_s: float = defaults.HEARTBEAT_S,
                 ttl_factor: int = defaults.NODE_TTL_FACTOR, token: str = "",
                 stuck: Optional[Callable[[], Optional[str]]] = None,
                 progress: Optional[Any] = None) -> None:
        self.redis = redis_client
        self.keys = keys
        self.node = node
        self.stats = stats
        self.on_drained = on_drained
        self.period_s = float(period_s)
        self.ttl_ms = max(1000, int(self.period_s * ttl_factor * 1000))
        # this process's mark in the alive key: a restart under the same name tells it from its own
        self.token = token or process_token()
        self._stop = threading.Event()
        self._thread = None  # type: Any
        self._failing = False
        self.stuck = stuck or (lambda: None)
        self.progress = progress  # a worker.liveness.ProgressFile, touched while not stuck
        self.stuck_reason = None  # type: Optional[str]
        self.beats = 0

    def beat(self) -> None:
        """One heartbeat (also called once synchronously at start, so the node shows at once).

        Stuck (an engine call past its limit): no alive key, no progress-file touch; the
        stats hash says why, so `alpr status` shows the node as stuck, not gone."""
        reason = self.stuck()
        if reason != self.stuck_reason:
            if reason:
                log.error("node %s is stuck: %s; heartbeat withheld so the fleet reaps its "
                          "frames", self.node, reason)
            elif self.stuck_reason:
                log.warning("node %s makes progress again; heartbeat resumed", self.node)
            self.stuck_reason = reason
        if reason is None and self.progress is not None:
            self.progress.touch()  # local: a Redis outage is not a lack of progress
        stats = {"host": socket.gethostname(), "pid": os.getpid(),
                 "python": "%d.%d.%d" % sys.version_info[:3], "beat": "%.3f" % time.time()}
        stats.update(self.stats())
        stats["stuck"] = reason or ""
        if reason is not None:
            stats["state"] = "stuck"
        pipe = self.redis.pipeline(transaction=False)
        if reason is None:
            pipe.set(self.keys.node_alive(self.node), self.token, px=self.ttl_ms)
        pipe.hset(self.keys.node_stats(self.node), mapping={k: str(v) for k, v in stats.items()})
        pipe.sadd(self.keys.nodes, self.node)
        pipe.sismember(self.keys.drained(), self.node)
        drained = bool(pipe.execute()[-1])
        self.on_drained(drained)
        self.beats += 1

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.beat()
                if self._failing:
                    log.info("heartbeat: Redis reachable again")
                self._failing = False
            except Exception as exc:  # Redis down: keep the thread, report once
                if not self._failing:
                    log.warning("heartbeat failed (%s: %s); retrying every %.1f s",
                                type(exc).__name__, exc, self.period_s)
                self._failing = True

    def start(self) -> "Heartbeat":
        try:
            self.beat()
        except Exception as exc:
            log.warning("first heartbeat failed (%s); the thread keeps trying", exc)
        self._thread = threading.Thread(target=self._run, name="alpr-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self, clear: bool = True) -> None:
        """Stop beating; with ``clear`` remove the alive key (a clean exit is not a death)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.period_s + 1)
        if clear:
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.delete(self.keys.node_alive(self.node))
                pipe.hset(self.keys.node_stats(self.node), "state", "stopped")
                pipe.execute()
            except Exception:  # shutting down with Redis gone: nothing left to tell
                pass
