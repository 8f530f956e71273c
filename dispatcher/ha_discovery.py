"""Home Assistant MQTT discovery: the retained config messages that make the fleet appear in HA.

Pure functions (topic, payload) over the topic layout of dispatcher.mqtt: a sensor per camera
(its last plate, the event's fields as attributes), a binary sensor per known-plate label
("a resident's car is here": on while a plate of that label was seen within the presence
time), a sensor of live nodes from the fleet health; all unavailable while the dispatcher's
last will ("offline") stands on `<prefix>/status`. Format: HA's MQTT discovery documentation
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
"""
import re
from typing import Any, Dict, List, Tuple

from dispatcher.known_plates import LABELS

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ONLINE, OFFLINE = "online", "offline"
LABEL_NAMES = {"allow": "Allowed plate present", "deny": "Denied plate present"}

Message = Tuple[str, Dict[str, Any]]


def topic_part(name: str) -> str:
    """A camera or label as one MQTT topic level / HA object id: no '/', '+', '#' or spaces."""
    return _UNSAFE.sub("_", str(name or "")) or "_"


class Topics(object):
    """Every topic the dispatcher publishes under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/") or "alpr"
        self.events = "%s/events" % self.prefix
        self.status = "%s/status" % self.prefix  # "online" (retained) / last will "offline"
        self.health = "%s/health" % self.prefix  # fleet health JSON (retained)

    def plate(self, camera: str) -> str:
        return "%s/%s/plate" % (self.prefix, topic_part(camera))

    def label(self, label: str) -> str:
        return "%s/label/%s" % (self.prefix, topic_part(label))

    def label_attributes(self, label: str) -> str:
        return "%s/label/%s/attributes" % (self.prefix, topic_part(label))


def _device(node_id: str) -> Dict[str, Any]:
    return {"identifiers": ["alpr_%s" % node_id], "name": "ALPR fleet (%s)" % node_id,
            "manufacturer": "alpr-fleet", "model": "dispatcher"}


def _availability(topics: Topics) -> Dict[str, Any]:
    return {"availability_topic": topics.status, "payload_available": ONLINE,
            "payload_not_available": OFFLINE}


def camera_sensor(discovery: str, topics: Topics, camera: str) -> Message:
    """The sensor of one camera: state = its last plate, attributes = that event's fields."""
    node_id = topic_part(topics.prefix)
    object_id = "%s_plate" % topic_part(camera)
    config = {
        "name": "%s plate" % camera,
        "unique_id": "alpr_%s_%s" % (node_id, object_id),
        "object_id": "alpr_%s" % object_id,
        "state_topic": topics.plate(camera),
        "value_template": "{{ value_json.plate }}",
        "json_attributes_topic": topics.plate(camera),
        "icon": "mdi:car-info",
        "device": _device(node_id),
    }
    config.update(_availability(topics))
    return "%s/sensor/%s/%s/config" % (discovery, node_id, object_id), config


def label_binary_sensor(discovery: str, topics: Topics, label: str) -> Message:
    """The presence sensor of one label: ON when an event of that label arrives."""
    node_id = topic_part(topics.prefix)
    object_id = "label_%s" % topic_part(label)
    config = {
        "name": LABEL_NAMES.get(label, "%s plate present" % label),
        "unique_id": "alpr_%s_%s" % (node_id, object_id),
        "object_id": "alpr_%s" % object_id,
        "state_topic": topics.label(label),
        "payload_on": "ON",
        "payload_off": "OFF",
        "json_attributes_topic": topics.label_attributes(label),
        "device_class": "presence",
        "device": _device(node_id),
    }
    config.update(_availability(topics))
    return "%s/binary_sensor/%s/%s/config" % (discovery, node_id, object_id), config


def nodes_sensor(discovery: str, topics: Topics) -> Message:
    """Live worker nodes, from the fleet health message (its other fields as attributes)."""
    node_id = topic_part(topics.prefix)
    config = {
        "name": "Live nodes",
        "unique_id": "alpr_%s_nodes_alive" % node_id,
        "object_id": "alpr_%s_nodes_alive" % node_id,
        "state_topic": topics.health,
        "value_template": "{{ value_json.nodes_alive }}",
        "json_attributes_topic": topics.health,
        "icon": "mdi:server-network",
        "device": _device(node_id),
    }
    config.update(_availability(topics))
    return "%s/sensor/%s/nodes_alive/config" % (discovery, node_id), config


def fleet_configs(discovery: str, topics: Topics, cameras: List[str]) -> List[Message]:
    """Every discovery config of a fleet: the label sensors, the nodes sensor, each camera."""
    out = [label_binary_sensor(discovery, topics, label) for label in LABELS]
    out.append(nodes_sensor(discovery, topics))
    out.extend(camera_sensor(discovery, topics, cam) for cam in sorted(set(cameras)))
    return out
