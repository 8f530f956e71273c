"""End-to-end fixtures: real fleets (demo.fleet.Fleet) of real processes on a real redis-server."""
import uuid

import pytest


@pytest.fixture
def make_fleet(tmp_path):
    """Factory: a Fleet on a Redis URL in a fresh namespace/queue; everything stopped at teardown."""
    from demo.fleet import Fleet

    fleets = []

    def make(redis_url, **env):
        run = uuid.uuid4().hex[:8]
        fleet = Fleet(redis_url, "e2e-%s:" % run, "e2e-%s" % run, str(tmp_path), extra_env=env)
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.stop_all()
