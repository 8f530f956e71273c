"""Restart redis-server mid-run: producer, workers and dispatcher reconnect and go on; nothing crashes.

Without persistence the restarted server has forgotten every frame and counter; the
dispatcher notices (counters only grow) and counts the frames that were in flight as
produced + failed:lost, so the loss shows and the accounting balances. With AOF the state
survives, and the accounting must balance across the restart with nothing lost.
"""
import time

import pytest

from redis_server import RedisServer

NAMES = ["producer1", "rw1", "rw2", "dispatcher"]


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("persistence", ["none", "aof"])
def test_redis_restart_mid_run(make_fleet, persistence):
    extra = ["--appendonly", "yes", "--appendfsync", "always"] if persistence == "aof" else []
    server = RedisServer(extra_args=extra).start()
    fleet = make_fleet(server.url)
    try:
        for name in ("rw1", "rw2"):
            fleet.start_worker(name, engine="sleep:0.5")  # slower than the producer: frames in flight
        fleet.wait_nodes(["rw1", "rw2"], timeout=60)
        fleet.start_dispatcher()
        fleet.start_producer("producer1", "cam-restart", "scenes",
                             ["--fps", "20", "--frames", "100000", "--max-age", "5",
                              "--repeat", "10"])
        assert wait_until(lambda: fleet.accounting()["read"] >= 10, 60), fleet.accounting()
        before = fleet.accounting()

        fleet._client = None  # the test's own client reconnects too
        server.restart(down_s=1.0)
        restarted_at = time.time()

        # everyone reconnects: new frames are produced, read and dispatched on the new server
        def progressing():
            acc = fleet.accounting()
            return acc["read"] >= before["read"] + 10 if persistence == "aof" else acc["read"] >= 10
        assert wait_until(progressing, 45), fleet.accounting()
        recovered_s = time.time() - restarted_at
        assert wait_until(lambda: fleet.redis.xinfo_groups(fleet.keys.results), 20)
        for name in NAMES:
            assert fleet.alive(name), "%s died across the Redis restart" % name

        assert fleet.stop("producer1") == 0
        acc = fleet.wait_accounted(timeout=30)
        assert acc["in_flight"] == 0 and acc["invariant_ok"], acc
        if persistence == "aof":
            assert acc["produced"] > before["produced"]  # counters survived and went on
            assert acc["failed_by_reason"].get("lost", 0) == 0  # nothing was forgotten
        else:  # the frames in flight at the restart were forgotten: counted, not silent
            assert acc["failed_by_reason"].get("lost", 0) >= 1, acc
        assert fleet.wait_dispatched(timeout=20)
        for name in ("rw1", "rw2", "dispatcher"):
            assert fleet.stop(name) == 0, "%s did not exit cleanly" % name
        print("redis restart (%s): fleet progressing again %.1f s after the restart; %s"
              % (persistence, recovered_s, acc))
    finally:
        fleet.stop_all()  # before the server goes, so every process can exit cleanly
        server.cleanup()
