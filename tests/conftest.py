"""Shared fixtures: a real redis-server per test session, paths to shared data."""
import os
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # the 3.6 venv runs from the checkout without installing
    sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis_server import RedisServer  # noqa: E402
from testenv import ROOT, SHARED_DATA, subprocess_env  # noqa: E402,F401

@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a free port for the whole session."""
    server = RedisServer().start()
    yield server
    server.cleanup()

@pytest.fixture
def redis_url(redis_server):
    """URL of the session's redis-server, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url

@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()

@pytest.fixture(scope="session")
def openalpr_dir():
    """The shared OpenALPR benchmark photos; tests skip with a reason when absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("shared data not present at %s (evaluation data is never copied "
                    "into the repo)" % SHARED_DATA)
    return SHARED_DATA
