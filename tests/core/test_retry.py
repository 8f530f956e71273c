"""Retry value object: backoff, budget, stop; against a real redis-server restart too."""
import pytest

from alpr.retry import ExponentialBackoff, Retry


class Flaky(object):
    def __init__(self, failures, exc=ConnectionError):
        self.left = failures
        self.exc = exc
        self.calls = 0

    def __call__(self, value):
        self.calls += 1
        if self.left:
            self.left -= 1
            raise self.exc("down")
        return value * 2


def test_backoff_grows_and_caps():
    b = ExponentialBackoff(base=0.1, cap=1.0, jitter=0.0)
    assert [b.compute(n) for n in (1, 2, 3, 4, 5, 50)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    j = ExponentialBackoff(base=1.0, cap=1.0, jitter=0.5)
    assert all(0.5 <= j.compute(3) <= 1.0 for _ in range(50))


def test_call_retries_until_success_and_reports_delays():
    slept, seen = [], []
    retry = Retry(ExponentialBackoff(0.1, 1.0, jitter=0.0), retries=0,
                  supported_errors=(ConnectionError,), sleep=slept.append,
                  on_retry=lambda exc, n, d: seen.append(n))
    fn = Flaky(3)
    assert retry.call(fn, 21) == 42
    assert fn.calls == 4 and slept == [0.1, 0.2, 0.4] and seen == [1, 2, 3]


def test_budget_spent_reraises():
    retry = Retry(ExponentialBackoff(0.0, 0.0), retries=2, supported_errors=(ConnectionError,),
                  sleep=lambda s: None)
    fn = Flaky(5)
    with pytest.raises(ConnectionError):
        retry.call(fn, 1)
    assert fn.calls == 3


def test_unsupported_error_is_not_retried():
    retry = Retry(retries=0, supported_errors=(ConnectionError,), sleep=lambda s: None)
    fn = Flaky(1, exc=ValueError)
    with pytest.raises(ValueError):
        retry.call(fn, 1)
    assert fn.calls == 1


def test_should_stop_ends_an_endless_retry():
    calls = []
    retry = Retry(retries=0, supported_errors=(ConnectionError,), sleep=lambda s: None,
                  should_stop=lambda: len(calls) >= 3)
    with pytest.raises(ConnectionError):
        retry.call(lambda: calls.append(1) or Flaky(1)(0))
    assert len(calls) == 3


def test_redis_errors_retried_across_a_real_restart(redis_server):
    """A client call fails while redis-server is down and succeeds once it is back."""
    import threading
    import time

    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=1)
    client.set("retry:k", "v")
    redis_server.stop()
    threading.Timer(0.5, redis_server.start).start()
    started = time.time()
    failures = []
    retry = Retry(ExponentialBackoff(0.05, 0.2), retries=0,
                  on_retry=lambda exc, n, d: failures.append(type(exc).__name__))
    assert retry.call(client.ping) is True
    assert failures and time.time() - started < 5
