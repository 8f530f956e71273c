"""The loop around a whole step of a long-running process: what redis-py's Retry cannot do.

Single Redis commands are retried by redis-py itself: every client carries a
``redis.retry.Retry`` (alpr.redis_retry.client_retry), so a restart is ridden through with
no wrapper. This loop stays only where that is not enough, and each call site says which:

1. wait for Redis forever until the process is told to stop (``should_stop``): redis-py's
   Retry has a fixed budget and no stop hook, and a client retrying forever would keep a
   SIGTERM'd process blocked in a command (producer/dispatcher/worker connect and main loops);
2. send a MULTI again after a connection error: redis-py 4.3.6, the Nano's pin, does not
   retry pipelines after one (the producer's put, the worker's claim/finish: idempotent);
3. retry what is not Redis: the camera reopen (producer/sources.py), webhooks.

``Retry.call(fn, *args)`` runs ``fn`` until it succeeds, the budget is spent, or
``should_stop()`` says the process is shutting down; it logs the first failure and the
recovery once. The backoff takes (base, cap) in that order, unlike redis-py's (cap, base).
"""
import logging
import random
import time
from typing import Any, Callable, Optional, Tuple, Type

from alpr import defaults

log = logging.getLogger(__name__)


class ExponentialBackoff(object):
    """Delay ``base * 2**(failures-1)`` capped at ``cap``, with up to ``jitter`` fraction of noise."""

    def __init__(self, base: float = defaults.RETRY_BASE_S, cap: float = defaults.RETRY_CAP_S,
                 jitter: float = 0.1) -> None:
        self.base = float(base)
        self.cap = float(cap)
        self.jitter = float(jitter)

    def compute(self, failures: int) -> float:
        """Seconds to wait after the given number of consecutive failures (>= 1)."""
        delay = min(self.cap, self.base * (2 ** max(0, min(failures - 1, 30))))
        if self.jitter:
            delay *= 1.0 - self.jitter * random.random()
        return delay


def _redis_errors() -> Tuple[Type[BaseException], ...]:
    import redis

    from alpr.errors import TransientError

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            ConnectionError, TimeoutError, TransientError)


class Retry(object):
    """Call a function until it succeeds: ``retries`` <= 0 means forever (long-running processes)."""

    def __init__(self, backoff: Optional[ExponentialBackoff] = None,
                 retries: int = defaults.RETRY_ATTEMPTS,
                 supported_errors: Optional[Tuple[Type[BaseException], ...]] = None,
                 should_stop: Optional[Callable[[], bool]] = None,
                 on_retry: Optional[Callable[[BaseException, int, float], None]] = None,
                 sleep: Callable[[float], None] = time.sleep, name: str = "redis") -> None:
        self.backoff = backoff or ExponentialBackoff()
        self.retries = int(retries)
        self.supported_errors = supported_errors if supported_errors else _redis_errors()
        self.should_stop = should_stop
        self.on_retry = on_retry
        self.sleep = sleep
        self.name = name

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Return ``fn(*args, **kwargs)``, retrying supported errors with backoff.

        Re-raises the last error when the budget is spent or ``should_stop()`` turns true.
        Logs one warning at the first failure and one info line on recovery (no spam).
        """
        failures = 0
        while True:
            try:
                result = fn(*args, **kwargs)
            except self.supported_errors as exc:
                failures += 1
                if (self.retries > 0 and failures > self.retries) or (
                        self.should_stop is not None and self.should_stop()):
                    raise
                delay = self.backoff.compute(failures)
                if failures == 1:
                    log.warning("%s unavailable (%s: %s); retrying with backoff", self.name,
                                type(exc).__name__, exc)
                if self.on_retry is not None:
                    self.on_retry(exc, failures, delay)
                self.sleep(delay)
                continue
            if failures:
                log.info("%s back after %d failed attempt(s)", self.name, failures)
            return result


def standard_retry(should_stop: Optional[Callable[[], bool]] = None, name: str = "redis") -> Retry:
    """The fleet's Redis retry: backoff and budget from alpr.defaults (forever by default)."""
    return Retry(ExponentialBackoff(defaults.RETRY_BASE_S, defaults.RETRY_CAP_S),
                 retries=defaults.RETRY_ATTEMPTS, should_stop=should_stop, name=name)
