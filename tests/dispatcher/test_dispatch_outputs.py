"""The dispatcher's outputs (MQTT, alert rules) run after each event is streamed; one that
fails is counted and never stops the loop; the counters reach Redis for `alpr status`."""
import json
import time

from dispatcher.consumer import ResultsConsumer
from dispatcher.grouping import Deduper, Grouper
from dispatcher.recent import RecentCache
from dispatcher.service import Dispatcher
from alpr.protocol import as_number
from helpers_dispatch import FakeClock, make_store, put_and_finish


class FakeOutput(object):
    """A fake output (unit test of the loop): records events, can be told to fail."""

    def __init__(self, fail=False):
        self.fail = fail
        self.seen = []
        self.ticks = 0

    def event(self, event, evidence=()):
        if self.fail:
            raise RuntimeError("output broke")
        self.seen.append((event["plate"], evidence))

    def tick(self):
        self.ticks += 1
        if self.fail:
            raise RuntimeError("tick broke")

    def all_stats(self):
        return {"fake_seen": len(self.seen)}


def test_outputs_see_each_streamed_event_and_a_failing_one_is_counted(redis_client):
    keys, store = make_store(redis_client)
    clock = FakeClock(time.time())
    broken, good = FakeOutput(fail=True), FakeOutput()
    consumer = ResultsConsumer(redis_client, keys.results, consumer="d1", block_ms=10)
    d = Dispatcher(redis_client, keys, consumer, Grouper(3.0, 0.8), Deduper(60.0, 0.8),
                   RecentCache(redis_client, keys, 3600.0), clock=clock,
                   outputs=[broken, good], stats_every_s=0.01)
    d.start()
    for _ in range(3):
        put_and_finish(store, "gate", ["OUT1234"], ts=clock.now)
    d.step()
    clock.now += 10
    time.sleep(0.02)  # past stats_every_s: this step writes the counters again
    d.step()
    streamed = [json.loads(f[b"event"])["plate"] for _, f in redis_client.xrange(keys.events)]
    assert streamed == ["OUT1234"]
    assert good.seen == [("OUT1234", ())]  # no store: no pictures to link
    assert d.stats["output_errors"] == 3  # one event and two ticks of the broken output
    assert good.ticks == 2
    saved = dict((k.decode(), as_number(v)) for k, v in
                 redis_client.hgetall(keys.dispatcher_stats).items())
    assert saved["events"] == 1 and saved["fake_seen"] == 1 and saved["output_errors"] >= 1
    assert abs(saved["updated"] - time.time()) < 60
