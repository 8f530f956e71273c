"""WatchLoop (dispatcher/watch_loop.py): the fleet watch's own loop outlives Redis outages and
bugs, and stops when told. The reaping itself runs against a real Redis in
test_dispatch_fleet.py and tests/e2e/test_e2e_fleet_watch.py."""
import time

from dispatcher.watch_loop import WatchLoop


class fake_fleet(object):
    """Unit-test stand-in for FleetWatch: its first ticks raise the given errors, then succeed."""

    def __init__(self, errors):
        self.errors = list(errors)
        self.ticks = 0
        self.stats = {"requeued": 0}

    def tick(self):
        if self.errors:
            raise self.errors.pop(0)
        self.ticks += 1
        return {}


def test_watch_loop_outlives_a_redis_outage_and_a_bug_then_stops():
    fleet = fake_fleet([ConnectionError("redis went away"), RuntimeError("a bug")])
    loop = WatchLoop(fleet, period_s=0.01).start()
    deadline = time.time() + 10
    while time.time() < deadline and fleet.ticks < 3:
        time.sleep(0.01)
    loop.stop()
    assert fleet.ticks >= 3 and loop.stats["errors"] == 2
    assert not loop._thread.is_alive()
    assert loop.all_stats()["fleet_requeued"] == 0 and loop.all_stats()["watch_errors"] == 2


def test_watch_loop_in_the_foreground_ends_on_should_stop():
    fleet = fake_fleet([])
    loop = WatchLoop(fleet, period_s=0.01)
    loop.run(lambda: fleet.ticks >= 2)
    assert fleet.ticks == 2 and loop.stats["ticks"] == 2
