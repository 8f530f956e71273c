"""redis-py's own retry, set on every client the fleet makes (plain and Sentinel)."""
from typing import Any, Dict

from alpr import defaults


def client_retry(retries: int = defaults.REDIS_RETRIES) -> Dict[str, Any]:
    """redis-py's ``retry=``/``retry_on_error=`` client arguments: up to ``retries`` resends of
    a command (or of a reconnect) after a connection error or timeout, backoff from
    alpr.defaults.

    The API is the one the Nano's redis==4.3.6 has (``Retry(backoff, retries,
    supported_errors)``, ``ExponentialBackoff(cap, base)``): ``base * 2**failures`` capped.
    """
    import socket

    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    # the builtin ConnectionError (refused, reset) too: redis-py 4.3 retries a reconnect's
    # socket error as it is raised, before turning it into redis' own ConnectionError
    errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
              ConnectionError, socket.timeout)
    return {"retry": Retry(ExponentialBackoff(cap=defaults.RETRY_CAP_S, base=defaults.RETRY_BASE_S),
                           retries, supported_errors=errors),
            "retry_on_error": list(errors)}
