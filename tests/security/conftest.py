"""A real fleet (demo.fleet.Fleet) on the session's redis-server, in its own namespace and queue."""
import uuid

import pytest


@pytest.fixture
def fleet(redis_url, tmp_path):
    from demo.fleet import Fleet

    run = uuid.uuid4().hex[:8]
    f = Fleet(redis_url, "sec-%s:" % run, "sec-%s" % run, str(tmp_path))
    yield f
    f.stop_all()
