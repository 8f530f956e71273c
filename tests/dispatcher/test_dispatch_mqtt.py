"""`alpr dispatch --mqtt` as a real process against a real mosquitto broker: topics, payloads,
retained messages, Home Assistant discovery, the last will of a SIGKILLed dispatcher, and a
broker restart mid-run (what the outage held back is counted, stays in the store and stream,
and is sent after the reconnect). Frames are finished through the FrameStore as workers do."""
import json
import sqlite3
import time

import pytest

from helpers_dispatch import make_store, put_and_finish
from helpers_mqtt import make_fleet, status_json, stream_events
from mosquitto_server import MosquittoServer, Recorder, mosquitto_binary, retained

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (pip install paho-mqtt)")
if mosquitto_binary() is None:
    pytest.skip("mosquitto is not installed (make test installs it: make mosquitto)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def broker():
    server = MosquittoServer().start()
    yield server
    server.cleanup()


def start(fleet, broker, prefix, tmp_path, *extra):
    known = tmp_path / "known.csv"
    known.write_text("plate,label,note\nRES1234,allow,resident\nBAD6666,deny,banned\n")
    fleet.start_dispatcher(extra=["--mqtt", broker.url(), "--mqtt-prefix", prefix,
                                  "--group-window-s", "0.5", "--dedup-window-s", "1",
                                  "--known-plates", str(known), "--db",
                                  "sqlite:///%s" % (tmp_path / "events.db"), "--data-dir",
                                  str(tmp_path / "data"), "--console-url",
                                  "http://console.local:8080"] + list(extra))


def arrive(redis_client, fleet, camera, plate, frames=3):
    """A car passing: `frames` frames read as `plate`, finished as a worker finishes them."""
    _keys, store = make_store(redis_client, fleet.namespace)
    for _ in range(frames):
        put_and_finish(store, camera, [plate])


def events_on(rec, prefix, plate):
    return [json.loads(m["payload"]) for m in rec.on("%s/events" % prefix)
            if json.loads(m["payload"])["plate"] == plate]


def test_topics_payloads_retained_messages_and_discovery(redis_client, redis_url, broker,
                                                          tmp_path):
    fleet, run = make_fleet(redis_url, tmp_path)
    prefix = "alpr-%s" % run
    rec = Recorder(broker.port, ["%s/#" % prefix, "homeassistant/#"])
    try:
        start(fleet, broker, prefix, tmp_path, "--mqtt-presence-s", "2")
        assert rec.wait(lambda: any(m["payload"] == "online" for m in rec.on(prefix + "/status")))
        arrive(redis_client, fleet, "gate", "RES1234")
        assert rec.wait(lambda: events_on(rec, prefix, "RES1234")), fleet.log_dir
        (published,) = events_on(rec, prefix, "RES1234")
        (streamed,) = stream_events(fleet)
        # the same fields as the events stream; evidence as console URLs (no crop was sent)
        assert dict(published, crop=None, frame=None) == dict(streamed, crop=None, frame=None)
        assert published["label"] == "allow" and published["note"] == "resident"
        assert published["crop"] is None and published["camera"] == "gate"

        # retained: a subscriber arriving later gets the last plate, the status, the label
        last = json.loads(retained(broker.port, "%s/gate/plate" % prefix))
        assert last["plate"] == "RES1234" and last["id"] == streamed["id"]
        assert retained(broker.port, prefix + "/status") == "online"
        assert rec.wait(lambda: [m["payload"] for m in rec.on(prefix + "/label/allow")][-1:]
                        == ["ON"])
        attrs = json.loads(rec.on(prefix + "/label/allow/attributes")[-1]["payload"])
        assert attrs["plate"] == "RES1234" and attrs["camera"] == "gate"
        # ... and off again after the presence time
        assert rec.wait(lambda: [m["payload"] for m in rec.on(prefix + "/label/allow")][-1:]
                        == ["OFF"], timeout=10)
        assert retained(broker.port, prefix + "/label/allow") == "OFF"

        # Home Assistant discovery: a sensor for the camera, binary sensors for the labels
        node = prefix  # the HA node id: the prefix as one topic level
        cam_cfg = json.loads(retained(broker.port,
                                      "homeassistant/sensor/%s/gate_plate/config" % node))
        assert cam_cfg["state_topic"] == "%s/gate/plate" % prefix
        assert cam_cfg["value_template"] == "{{ value_json.plate }}"
        assert cam_cfg["json_attributes_topic"] == "%s/gate/plate" % prefix
        assert cam_cfg["availability_topic"] == prefix + "/status"
        assert cam_cfg["payload_not_available"] == "offline"
        for label in ("allow", "deny"):
            cfg = json.loads(retained(
                broker.port, "homeassistant/binary_sensor/%s/label_%s/config" % (node, label)))
            assert cfg["state_topic"] == "%s/label/%s" % (prefix, label)
            assert cfg["payload_on"] == "ON" and cfg["device_class"] == "presence"
            assert cfg["unique_id"] == "alpr_%s_label_%s" % (node, label)

        # fleet health (retained JSON) and the dispatcher's MQTT counters in `alpr status`
        health = json.loads(retained(broker.port, prefix + "/health"))
        assert health["state"] == "online" and "nodes_alive" in health
        assert rec.wait(lambda: status_json(fleet)["dispatcher"].get("mqtt_published", 0) >= 4,
                        timeout=15)
        assert status_json(fleet)["dispatcher"]["mqtt_unpublished"] == 0

        # a clean stop says offline (retained), as the last will would
        assert fleet.stop("dispatcher") == 0
        assert retained(broker.port, prefix + "/status") == "offline"
    finally:
        rec.close()
        fleet.stop_all()


def test_last_will_after_the_dispatcher_is_sigkilled(redis_url, broker, tmp_path):
    fleet, run = make_fleet(redis_url, tmp_path)
    prefix = "alpr-%s" % run
    rec = Recorder(broker.port, ["%s/status" % prefix])
    try:
        start(fleet, broker, prefix, tmp_path)
        assert rec.wait(lambda: [m["payload"] for m in rec.on(prefix + "/status")][-1:]
                        == ["online"])
        fleet.kill("dispatcher")  # SIGKILL: no clean disconnect, the broker sends the will
        assert rec.wait(lambda: [m["payload"] for m in rec.on(prefix + "/status")][-1:]
                        == ["offline"], timeout=10)
        assert retained(broker.port, prefix + "/status") == "offline"  # the will is retained
    finally:
        rec.close()
        fleet.stop_all()


def test_broker_restart_mid_run(redis_client, redis_url, tmp_path):
    broker = MosquittoServer().start()  # this test's own broker: it is stopped mid-run
    fleet, run = make_fleet(redis_url, tmp_path)
    prefix = "alpr-%s" % run
    rec = Recorder(broker.port, ["%s/#" % prefix])
    try:
        start(fleet, broker, prefix, tmp_path)
        arrive(redis_client, fleet, "gate", "AAA1111")
        assert rec.wait(lambda: events_on(rec, prefix, "AAA1111")), fleet.log_dir
        rec.close()
        broker.stop()
        # during the outage: the event is stored and streamed, and counted as unpublished
        arrive(redis_client, fleet, "gate", "BBB2222")
        assert rec.wait(lambda: any(e["plate"] == "BBB2222" for e in stream_events(fleet)))
        with sqlite3.connect(str(tmp_path / "events.db")) as db:
            assert db.execute("SELECT COUNT(*) FROM events WHERE plate = 'BBB2222'"
                              ).fetchone()[0] == 1
        assert rec.wait(lambda: status_json(fleet)["dispatcher"].get("mqtt_unpublished", 0) >= 2,
                        timeout=15)  # the event and the camera's last plate, at least
        down = status_json(fleet)["dispatcher"]
        assert down["mqtt_connected"] == 0 and down["mqtt_backlog"] >= 2
        assert fleet.alive("dispatcher")

        broker.start()  # same port, no persistence: every retained message is gone
        rec = Recorder(broker.port, ["%s/#" % prefix])
        # after paho's reconnect: the held-back event arrives, new events are published
        assert rec.wait(lambda: events_on(rec, prefix, "BBB2222"), timeout=40), fleet.log_dir
        arrive(redis_client, fleet, "gate", "CCC3333")
        assert rec.wait(lambda: events_on(rec, prefix, "CCC3333")), fleet.log_dir
        # the retained state was published again on the reconnect
        assert retained(broker.port, prefix + "/status") == "online"
        assert json.loads(retained(broker.port, "%s/gate/plate" % prefix))["plate"] == "CCC3333"
        assert rec.wait(lambda: status_json(fleet)["dispatcher"].get("mqtt_connects", 0) >= 2,
                        timeout=15)
        after = status_json(fleet)["dispatcher"]
        assert after["mqtt_backlog"] == 0 and after["mqtt_dropped"] == 0
        assert [e["plate"] for e in stream_events(fleet)] == ["AAA1111", "BBB2222", "CCC3333"]
    finally:
        rec.close()
        fleet.stop_all()
        broker.cleanup()


def test_mqtts_with_a_ca_bundle(redis_client, redis_url, tmp_path):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    from mosquitto_server import USER, PASSWORD, make_server_cert

    certs = tmp_path / "tls"
    certs.mkdir()
    make_server_cert(str(certs))
    broker = MosquittoServer(tls_dir=str(certs)).start()
    fleet, run = make_fleet(redis_url, tmp_path)
    prefix = "alpr-%s" % run
    rec = Recorder(broker.port, ["%s/#" % prefix])  # the test listens on the plain listener
    try:
        fleet.start_dispatcher(extra=[
            "--mqtt", "mqtts://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, broker.tls_port),
            "--mqtt-ca-certs", str(certs / "ca.crt"), "--mqtt-prefix", prefix,
            "--group-window-s", "0.5"])
        assert rec.wait(lambda: [m["payload"] for m in rec.on(prefix + "/status")][-1:]
                        == ["online"]), fleet.log_dir
        arrive(redis_client, fleet, "gate", "TLS1234")
        assert rec.wait(lambda: events_on(rec, prefix, "TLS1234")), fleet.log_dir
    finally:
        rec.close()
        fleet.stop_all()
        broker.cleanup()


def test_the_backlog_is_bounded_and_what_it_drops_is_counted(tmp_path):
    """In process, real paho: no broker at first, then one on the port paho keeps trying."""
    from dispatcher.mqtt import MqttPublisher
    from mosquitto_server import free_port

    port = free_port()
    broker = MosquittoServer(port=port)
    publisher = MqttPublisher(broker.url(), prefix="bl", discovery_prefix="", backlog=4,
                              reconnect_min_s=1, reconnect_max_s=1).start()
    try:
        for i in range(3):  # each event: <prefix>/events and the camera's plate (retained)
            publisher.event({"id": "gate:f%d" % i, "plate": "BLG%04d" % i, "camera": "gate",
                             "label": ""})
        stats = publisher.all_stats()
        assert (stats["mqtt_unpublished"], stats["mqtt_dropped"], stats["mqtt_backlog"]) == (6, 2, 4)
        broker.start()
        rec = Recorder(broker.port, ["bl/#"])
        try:
            deadline = time.time() + 20
            while time.time() < deadline and not rec.on("bl/events")[1:]:
                publisher.tick()
                time.sleep(0.1)
            # the oldest event (and its plate) was dropped: the two newest got through
            assert [json.loads(m["payload"])["plate"] for m in rec.on("bl/events")] == [
                "BLG0001", "BLG0002"]
            assert json.loads(rec.on("bl/gate/plate")[-1]["payload"])["plate"] == "BLG0002"
            after = publisher.all_stats()
            assert (after["mqtt_backlog"], after["mqtt_dropped"]) == (0, 2)  # no drop on flush
        finally:
            rec.close()
    finally:
        publisher.close()
        broker.cleanup()


def test_crop_links_resolve_in_the_console_api(tmp_path):
    """The `crop` URL an MQTT event carries is the console's: its path serves the stored crop."""
    import urllib.parse

    from fastapi.testclient import TestClient

    from api.app import create_app
    from dispatcher.mqtt import MqttPublisher
    from event_helpers import make_event
    from store import open_store
    from store.evidence import EvidenceDir

    store = open_store("sqlite:///%s" % (tmp_path / "events.db"))
    evidence = EvidenceDir(str(tmp_path / "evidence"))
    event = make_event("CRP1234", camera="gate 2")
    store.write_events([(event, evidence.put(event, b"\xff\xd8crop", None))])
    publisher = MqttPublisher("mqtt://127.0.0.1:1", console_url="http://console.local:8080/")
    payload = publisher.event_payload(event, ("crop",))
    assert payload["frame"] is None and publisher.event_payload(event)["crop"] is None
    url = urllib.parse.urlsplit(payload["crop"])
    assert (url.scheme, url.netloc) == ("http", "console.local:8080")
    answer = TestClient(create_app(store, evidence)).get(url.path)
    assert answer.status_code == 200 and answer.content == b"\xff\xd8crop"
    store.close()


def test_a_refused_login_is_logged_and_counted_never_fatal(broker, caplog):
    from dispatcher.mqtt import MqttPublisher

    publisher = MqttPublisher(broker.url(password="wrong"), prefix="pw", discovery_prefix="",
                              backlog=10).start()
    try:
        deadline = time.time() + 10
        while time.time() < deadline and "refused the connection" not in caplog.text:
            time.sleep(0.1)
        assert "MQTT broker refused the connection: Not authorized" in caplog.text
        assert "wrong" not in caplog.text  # the password is never logged
        publisher.event({"id": "gate:f1", "plate": "PWD1234", "camera": "gate", "label": ""})
        publisher.tick()
        stats = publisher.all_stats()
        assert (stats["mqtt_connected"], stats["mqtt_unpublished"], stats["mqtt_backlog"]) == (
            0, 2, 2)
    finally:
        publisher.close()
