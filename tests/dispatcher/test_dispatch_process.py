"""`alpr dispatch` as a real process: --print, SIGTERM flushes open groups, exits cleanly even with Redis down."""
import json
import time
import uuid

from alpr.protocol import ResultRecord, encode_result
from redis_server import RedisServer


def make(redis_url, tmp_path):
    from demo.fleet import Fleet

    run = uuid.uuid4().hex[:6]
    return Fleet(redis_url, "dp-%s:" % run, "dp-%s" % run, str(tmp_path))


def wait_for(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_emits_open_groups_and_prints_events(redis_url, tmp_path):
    fleet = make(redis_url, tmp_path)
    try:
        fleet.start_dispatcher(extra=["--group-window-s", "600"])  # only the shutdown flush emits
        assert wait_for(lambda: fleet.redis.exists(fleet.keys.results))  # group created
        for i in range(3):
            rec = ResultRecord("f%d" % i, "gate", "read", ts=time.time(),
                               reads=[{"text": "SIG1234", "confidence": 0.9, "box": [1, 2, 3, 4]}])
            fleet.redis.xadd(fleet.keys.results, encode_result(rec))
        assert fleet.wait_dispatched(10)
        time.sleep(0.3)
        assert fleet.redis.xlen(fleet.keys.events) == 0
        assert fleet.stop("dispatcher") == 0
        (entry,) = fleet.redis.xrange(fleet.keys.events)
        event = json.loads(entry[1][b"event"])
        assert event["plate"] == "SIG1234" and event["frames"] == 3
        fleet.event_thread.join(5)
        assert len(fleet.event_lines) == 1 and "SIG1234" in fleet.event_lines[0]
        assert int(fleet.redis.xpending(fleet.keys.results, "dispatch")["pending"]) == 0
    finally:
        fleet.stop_all()


def test_sigterm_while_redis_is_down_exits_cleanly(tmp_path):
    server = RedisServer().start()
    fleet = make(server.url, tmp_path)
    try:
        fleet.start_dispatcher()
        assert wait_for(lambda: fleet.redis.exists(fleet.keys.results))
        server.stop()
        time.sleep(1.5)  # the dispatcher is now in its reconnect loop
        assert fleet.alive("dispatcher")
        started = time.time()
        assert fleet.stop("dispatcher", timeout=10) == 0
        assert time.time() - started < 8
    finally:
        fleet.stop_all()
        server.cleanup()
