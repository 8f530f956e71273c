"""Topic names and Home Assistant discovery configs (pure functions; the broker tests check
them retained on a real mosquitto)."""
import pytest

from alpr.errors import ConfigError
from dispatcher.ha_discovery import Topics, camera_sensor, fleet_configs, topic_part
from dispatcher.mqtt import evidence_url, parse_mqtt_url


def test_camera_names_become_one_topic_level():
    topics = Topics("site/a/")
    assert topic_part("gate 2/+#") == "gate_2___" and topic_part("") == "_"
    assert topics.plate("gate 2") == "site/a/gate_2/plate"
    assert (topics.events, topics.status, topics.health) == (
        "site/a/events", "site/a/status", "site/a/health")
    topic, config = camera_sensor("homeassistant", topics, "gate 2")
    assert topic == "homeassistant/sensor/site_a/gate_2_plate/config"
    assert config["state_topic"] == "site/a/gate_2/plate" and config["name"] == "gate 2 plate"


def test_every_config_is_available_only_while_the_dispatcher_is_online():
    configs = fleet_configs("ha", Topics("alpr"), ["gate", "exit", "gate"])
    assert [t for t, _ in configs] == [
        "ha/binary_sensor/alpr/label_allow/config", "ha/binary_sensor/alpr/label_deny/config",
        "ha/sensor/alpr/nodes_alive/config", "ha/sensor/alpr/exit_plate/config",
        "ha/sensor/alpr/gate_plate/config"]
    for _, config in configs:
        assert (config["availability_topic"], config["payload_available"],
                config["payload_not_available"]) == ("alpr/status", "online", "offline")
        assert config["device"]["identifiers"] == ["alpr_alpr"]
    assert len(set(c["unique_id"] for _, c in configs)) == len(configs)


def test_mqtt_urls():
    assert parse_mqtt_url("mqtt://u%40x:p%3Aw@broker") == {
        "host": "broker", "port": 1883, "tls": False, "username": "u@x", "password": "p:w"}
    assert parse_mqtt_url("mqtts://broker")["port"] == 8883
    assert parse_mqtt_url("mqtts://broker:9999")["tls"] is True
    for bad, says in (("http://broker", "use mqtt://"), ("mqtt://", "has no host"),
                      ("mqtt://u:secret@broker:99999", "Port out of range")):
        with pytest.raises(ConfigError, match=says) as err:
            parse_mqtt_url(bad)
        assert "secret" not in str(err.value)


def test_evidence_urls_quote_the_event_id():
    assert evidence_url("http://c:8080/", "gate 2:f1/x", "crop") == \
        "http://c:8080/api/events/gate%202%3Af1%2Fx/crop.jpg"
    assert evidence_url("", "gate:f1", "frame") == "/api/events/gate%3Af1/frame.jpg"
