"""Alert rules end to end: a deny-labelled known plate arriving through a real dispatcher
process fires the rule's webhook (a real local HTTP server), its MQTT topic (a real mosquitto)
and the alerts stream record, and is stored with its event; a second arrival inside the rate
limit fires nothing, and neither does a plate whose rule is outside its schedule."""
import http.server
import json
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from helpers_dispatch import make_store, put_and_finish
from mosquitto_server import MosquittoServer, Recorder, mosquitto_binary
from redis_server import free_port
from helpers_mqtt import make_fleet, status_json, stream_events

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (pip install paho-mqtt)")
if mosquitto_binary() is None:
    pytest.skip("mosquitto is not installed (make test installs it: make mosquitto)",
                allow_module_level=True)


class Hook(http.server.BaseHTTPRequestHandler):
    received = []  # type: list

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def broker():
    server = MosquittoServer().start()
    yield server
    server.cleanup()


def wait(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_denied_plate_fires_webhook_mqtt_and_stream_once_per_rate_limit(
        redis_client, redis_url, broker, webhook, tmp_path):
    fleet, run = make_fleet(redis_url, tmp_path)
    prefix = "alpr-%s" % run
    # a window 12 hours away from now (UTC): the night rule is out of its schedule all test long
    away = datetime.now(timezone.utc) + timedelta(hours=12)
    window = "%02d:00-%02d:00" % (away.hour, (away.hour + 1) % 24)
    config = tmp_path / "alpr.yaml"
    config.write_text("""
alert_timezone: UTC
alerts:
  - name: denied
    when: {label: deny}
    where: [gate]
    rate_limit_s: 600
    message: "{plate} is banned ({note}) at {camera}"
    targets:
      webhooks: ["%(hook)s/denied"]
      mqtt: %(prefix)s/alerts/denied
      console: true
  - name: night visitors
    when: {pattern: "^NGT"}
    schedule: {times: ["%(window)s"]}
    targets: {webhooks: ["%(hook)s/night"], console: true}
""" % {"hook": webhook, "prefix": prefix, "window": window})
    known = tmp_path / "known.csv"
    known.write_text("plate,label,note\nBAD6666,deny,banned\n")
    db = tmp_path / "events.db"
    rec = Recorder(broker.port, ["%s/alerts/#" % prefix])
    _keys, frames = make_store(redis_client, fleet.namespace)

    def arrive(plate):
        for _ in range(3):
            put_and_finish(frames, "gate", [plate])

    def alerts_streamed():
        return [json.loads(f[b"json"]) for _, f in fleet.redis.xrange(fleet.keys.alerts)]

    try:
        fleet.start_dispatcher(extra=[
            "--config", str(config), "--mqtt", broker.url(), "--mqtt-prefix", prefix,
            "--known-plates", str(known), "--db", "sqlite:///%s" % db,
            "--data-dir", str(tmp_path / "data"), "--group-window-s", "0.5",
            "--dedup-window-s", "1"])
        arrive("BAD6666")
        assert wait(lambda: Hook.received), fleet.log_dir
        ((path, posted),) = Hook.received
        (event,) = stream_events(fleet)
        expected = {"rule": "denied", "plate": "BAD6666", "camera": "gate",
                    "event_id": event["id"], "label": "deny", "at": posted["at"],
                    "message": "BAD6666 is banned (banned) at gate"}
        assert path == "/denied" and posted == expected
        assert alerts_streamed() == [expected]  # the console banner's stream
        assert wait(lambda: rec.on("%s/alerts/denied" % prefix))
        assert json.loads(rec.on("%s/alerts/denied" % prefix)[0]["payload"]) == expected
        with sqlite3.connect(str(db)) as conn:  # stored with its event
            rows = conn.execute("SELECT a.rule, a.message, e.plate FROM alerts a"
                                " JOIN events e ON e.id = a.event_id").fetchall()
        assert rows == [("denied", expected["message"], "BAD6666")]

        # the same car again, a new event (past the 1 s dedup window) inside the rate limit
        time.sleep(1.5)
        arrive("BAD6666")
        assert wait(lambda: len(stream_events(fleet)) == 2)
        # outside its schedule: the night rule fires nothing
        arrive("NGT1234")
        assert wait(lambda: len(stream_events(fleet)) == 3)
        assert wait(lambda: status_json(fleet)["dispatcher"].get("alerts_off_schedule") == 1,
                    timeout=15)
        stats = status_json(fleet)["dispatcher"]
        assert (stats["alerts_fired"], stats["alerts_rate_limited"]) == (1, 1)
        assert stats["alerts_stored"] == 1 and stats["alerts_webhook_sent"] == 1
        time.sleep(0.5)  # a webhook or MQTT message would have arrived by now
        assert len(Hook.received) == 1 and len(alerts_streamed()) == 1
        assert len(rec.on("%s/alerts/denied" % prefix)) == 1
        with sqlite3.connect(str(db)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 1
    finally:
        rec.close()
        fleet.stop_all()
