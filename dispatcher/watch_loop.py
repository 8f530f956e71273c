"""Fleet watch on a loop of its own: the reaper and sweepers run whether a dispatcher runs or not.

`alpr fleet watch` runs this loop as its own process (no results stream, no event store);
`alpr dispatch` runs the same loop on a thread unless told not to (`--no-fleet-watch`,
`fleet_watch: false`), for a fleet that runs a watcher apart. Every `period_s` the loop
calls FleetWatch.tick: dead nodes reaped, overdue frames failed, orphans re-queued, lost
frames swept. Several watchers at once are safe: every transition is a Lua script that only
its first caller completes (the reaper's HDEL of the `running:` entry, the finish's ZREM
from the in-flight set), and a Redis that lost its data is counted once (FleetWatch's
`watch_mark`). Redis outages are waited out with backoff; nothing stops the loop but its stop.
"""
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional

from alpr import defaults
from dispatcher.fleet_watch import FleetWatch

log = logging.getLogger(__name__)


class WatchLoop(object):
    """Ticks one FleetWatch every `period_s` until stopped; in this thread or its own."""

    def __init__(self, fleet: FleetWatch, period_s: float = defaults.FLEET_WATCH_PERIOD_S,
                 clock: Callable[[], float] = time.time) -> None:
        from redis.backoff import ExponentialBackoff

        self.fleet = fleet
        self.period_s = float(period_s)
        self.clock = clock
        self.backoff = ExponentialBackoff(cap=defaults.RETRY_CAP_S, base=defaults.RETRY_BASE_S)
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self.stats = {"ticks": 0, "errors": 0}  # type: Dict[str, int]

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Tick until `should_stop()` or stop(); a failed tick is logged and retried."""
        failures = 0
        while not (should_stop() or self._stop.is_set()):
            started = self.clock()
            try:
                self.fleet.tick()
                self.stats["ticks"] += 1
                if failures:
                    log.info("fleet watch: Redis reachable again after %d failed ticks", failures)
                failures = 0
                wait = max(0.0, self.period_s - (self.clock() - started))
            except Exception as exc:  # Redis gone, or a bug: the watch must outlive both
                failures += 1
                self.stats["errors"] += 1
                if failures == 1:
                    if _is_redis_error(exc):
                        log.warning("fleet watch: Redis unavailable (%s: %s); retrying with "
                                    "backoff", type(exc).__name__, exc)
                    else:
                        log.exception("fleet watch tick failed: %s", exc)
                wait = max(self.period_s, self.backoff.compute(failures))
            self._stop.wait(wait)

    def start(self) -> "WatchLoop":
        """Run the loop on a daemon thread (the dispatcher's default)."""
        self._thread = threading.Thread(target=self.run, name="alpr-fleet-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop after the tick in progress; waits for the thread when it runs on one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.period_s + 5.0 if timeout is None else timeout)

    def all_stats(self) -> Dict[str, Any]:
        """The loop's and the fleet watch's counters, for the exit log line."""
        out = dict(("fleet_" + k, v) for k, v in self.fleet.stats.items())
        out.update(("watch_" + k, v) for k, v in self.stats.items())
        return out


def _is_redis_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                            ConnectionError, TimeoutError))
