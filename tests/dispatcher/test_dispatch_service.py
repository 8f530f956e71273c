"""The dispatcher loop on a real redis-server: events, dedup, recent cache, restart, webhooks."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from alpr.retry import ExponentialBackoff, Retry
from dispatcher.consumer import ResultsConsumer
from dispatcher.grouping import Deduper, Grouper
from dispatcher.known_plates import KnownPlates
from dispatcher.recent import RecentCache
from dispatcher.service import Dispatcher
from dispatcher.webhooks import WebhookError, WebhookSender
from helpers_dispatch import FakeClock, make_store, put_and_finish


def build(redis_client, keys, clock, consumer="d1", webhooks=None, known=None, on_event=None):
    consumer = ResultsConsumer(redis_client, keys.results, consumer=consumer, block_ms=10)
    d = Dispatcher(redis_client, keys, consumer, Grouper(3.0, 0.8), Deduper(60.0, 0.8),
                   RecentCache(redis_client, keys, 3600.0), known=known, webhooks=webhooks,
                   on_event=on_event, clock=clock)
    d.start()
    return d


def events(redis_client, keys):
    return [json.loads(f[b"event"]) for _, f in redis_client.xrange(keys.events)]


def drain(d, rounds=5):
    for _ in range(rounds):
        d.step()


def test_vehicles_become_one_event_each_with_votes_and_labels(redis_client):
    keys, store = make_store(redis_client)
    clock = FakeClock()
    known = KnownPlates({"ABC1234": {"label": "deny", "note": "stolen"}})
    seen = []
    d = build(redis_client, keys, clock, known=known, on_event=seen.append)
    for text in ["ABC1234", "ABC1284", "ABC1234", "ABC1234"]:
        put_and_finish(store, "cam0", [text], truth=["ABC1234"])
    put_and_finish(store, "cam0", ["QWE5678", "ZZZ0000"])
    put_and_finish(store, "cam1", ["ABC1234"])
    put_and_finish(store, "cam0", [], status="stale")
    put_and_finish(store, "cam0", [])  # a frame without plates
    redis_client.xadd(keys.results, {"r": b"\xc1garbage"})  # malformed: counted, acked
    drain(d)
    assert redis_client.xlen(keys.events) == 0  # vehicles still in view
    assert d.consumer.pending_count() == 6  # held by open groups, not acked yet
    clock.now += 10
    d.step()
    evs = events(redis_client, keys)
    assert sorted((e["camera"], e["plate"]) for e in evs) == [
        ("cam0", "ABC1234"), ("cam0", "QWE5678"), ("cam0", "ZZZ0000"), ("cam1", "ABC1234")]
    main = [e for e in evs if e["camera"] == "cam0" and e["plate"] == "ABC1234"][0]
    assert main["frames"] == 4 and main["candidates"][0] == {
        "text": "ABC1234", "count": 3, "confidence": 0.9, "mean_confidence": 0.9}
    assert main["candidates"][1]["text"] == "ABC1284"
    assert main["label"] == "deny" and main["note"] == "stolen" and main["truth"] == ["ABC1234"]
    assert main["box"] == [1, 2, 3, 4] and main["first_seen"] <= main["last_seen"]
    assert len(seen) == 4
    assert d.stats["malformed"] == 1 and d.stats["events"] == 4
    assert d.consumer.pending_count() == 0  # everything used is acked
    assert d.recent.seen("abc-1234", 60) is not None
    assert sorted(c for c, _ in d.recent.cameras_seen("ABC1234", 60, ["cam0", "cam1", "cam2"])) \
        == ["cam0", "cam1"]
    assert d.recent.seen("NEVER1", 60) is None


def test_parked_car_gives_one_event_within_dedup_window(redis_client):
    keys, store = make_store(redis_client)
    clock = FakeClock()
    d = build(redis_client, keys, clock)
    for _ in range(3):  # the car is read, then hidden longer than the group window, 3 times
        put_and_finish(store, "cam0", ["PRK1234"])
        drain(d, 2)
        clock.now += 10
        d.step()
    assert [e["plate"] for e in events(redis_client, keys)] == ["PRK1234"]
    assert d.stats["suppressed"] == 2
    assert d.consumer.pending_count() == 0


def test_restart_mid_group_loses_nothing_and_does_not_duplicate(redis_client):
    keys, store = make_store(redis_client)
    clock = FakeClock()
    first = build(redis_client, keys, clock)
    put_and_finish(store, "cam0", ["RST1234"])
    put_and_finish(store, "cam0", ["RST1234"])
    drain(first)
    assert first.consumer.pending_count() == 2
    del first  # crash: the open group dies with the process, its entries stay pending
    second = build(redis_client, keys, clock)
    drain(second)
    clock.now += 10
    second.step()
    (ev,) = events(redis_client, keys)
    assert ev["plate"] == "RST1234" and ev["frames"] == 2
    # a third instance re-learns the emitted event: a re-delivered copy is no new event
    third = build(redis_client, keys, clock)
    assert third.preload_dedup() == 1
    put_and_finish(store, "cam0", ["RST1234"])
    drain(third)
    clock.now += 10
    third.step()
    assert len(events(redis_client, keys)) == 1


def test_shutdown_flush_emits_open_groups(redis_client):
    keys, store = make_store(redis_client)
    d = build(redis_client, keys, FakeClock())
    put_and_finish(store, "cam0", ["FLS1234"])
    drain(d)
    assert d.flush()[0]["plate"] == "FLS1234"
    assert d.consumer.pending_count() == 0


class _Hook(BaseHTTPRequestHandler):
    received = []  # type: list
    status = 200

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(status):
    handler = type("Hook%d" % status, (_Hook,), {"received": [], "status": status})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler, "http://127.0.0.1:%d/hook" % server.server_port


def test_webhooks_post_events_and_count_failures(redis_client):
    good, good_handler, good_url = serve(200)
    bad, bad_handler, bad_url = serve(503)
    retry = Retry(ExponentialBackoff(0.01, 0.02), retries=2, supported_errors=(WebhookError,),
                  name="webhook")
    sender = WebhookSender([good_url, bad_url, "http://127.0.0.1:9/closed"], 1.0, retry).start()
    keys, store = make_store(redis_client)
    clock = FakeClock()
    d = build(redis_client, keys, clock, webhooks=sender)
    put_and_finish(store, "cam0", ["WEB1234"])
    drain(d)
    clock.now += 10
    d.step()
    sender.close(timeout_s=10)
    good.shutdown()
    bad.shutdown()
    assert [e["plate"] for e in good_handler.received] == ["WEB1234"]
    assert len(bad_handler.received) == 3  # first try + 2 retries, then counted failed
    assert sender.stats == {"sent": 1, "failed": 2, "dropped": 0}


def test_full_webhook_queue_drops_and_counts_without_blocking():
    retry = Retry(retries=1, supported_errors=(WebhookError,))
    sender = WebhookSender(["http://127.0.0.1:9/x"], 0.5, retry, queue_size=2)  # not started
    results = [sender.submit({"id": str(i)}) for i in range(4)]
    assert results == [True, True, False, False]
    assert sender.stats["dropped"] == 2
