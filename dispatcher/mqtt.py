"""Publish plate events, last plates, label presence and fleet health to an MQTT broker.

paho-mqtt's network thread owns the connection (connect, keepalive, reconnect with
`reconnect_delay_set` backoff, QoS 1 acknowledgements); the dispatcher's loop only hands
messages over and never waits on the broker. While the broker is away a message goes into a
bounded in-memory backlog instead (counted `mqtt_unpublished`; the oldest are dropped past
the bound, counted `mqtt_dropped`) and is sent once paho is connected again; events still
reach the store and the events stream meanwhile. On every (re)connect the retained state is
published again: `<prefix>/status` "online" (the last will says "offline"), Home Assistant
discovery configs, each camera's last plate and each label's presence.
"""
import collections
import json
import logging
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from alpr import defaults
from alpr.errors import ConfigError
from alpr.settings import redact_url
from dispatcher import ha_discovery
from dispatcher.ha_discovery import OFFLINE, ONLINE, Topics
from dispatcher.known_plates import LABELS

log = logging.getLogger(__name__)

Message = Tuple[str, str, bool]  # topic, payload, retain


def parse_mqtt_url(url: str) -> Dict[str, Any]:
    """mqtt://[user[:pass]@]host[:port] or mqtts://... -> host, port, tls, username, password."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError("MQTT URL %s: use mqtt://host:1883 or mqtts://host:8883"
                          % redact_url(url))
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError("MQTT URL %s: %s" % (redact_url(url), exc)) from exc
    if not parts.hostname:
        raise ConfigError("MQTT URL %s has no host" % redact_url(url))
    tls = parts.scheme == "mqtts"
    return {"host": parts.hostname, "port": port or (8883 if tls else 1883), "tls": tls,
            "username": urllib.parse.unquote(parts.username) if parts.username else None,
            "password": urllib.parse.unquote(parts.password) if parts.password else None}


def evidence_url(base: str, event_id: str, kind: str) -> str:
    """The console's URL of an event's crop.jpg / frame.jpg (relative without a base)."""
    return "%s/api/events/%s/%s.jpg" % (base.rstrip("/"), urllib.parse.quote(event_id, safe=""),
                                        kind)


class MqttPublisher(object):
    """One paho client; `event()`, `alert()` and `tick()` are called from the dispatcher loop."""

    def __init__(self, url: str, prefix: str = defaults.MQTT_PREFIX,
                 discovery_prefix: str = defaults.MQTT_DISCOVERY_PREFIX,
                 presence_s: float = defaults.MQTT_PRESENCE_S, ca_certs: str = "",
                 console_url: str = "",
                 keepalive_s: int = defaults.MQTT_KEEPALIVE_S,
                 reconnect_min_s: int = defaults.MQTT_RECONNECT_MIN_S,
                 reconnect_max_s: int = defaults.MQTT_RECONNECT_MAX_S,
                 backlog: int = defaults.MQTT_BACKLOG, health_s: float = defaults.MQTT_HEALTH_S,
                 health_fn: Optional[Callable[[], Dict[str, Any]]] = None,
                 cameras: Iterable[str] = (), client_id: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.target = parse_mqtt_url(url)
        self.topics = Topics(prefix)
        self.discovery_prefix = discovery_prefix.strip("/")
        self.presence_s = float(presence_s)
        self.ca_certs = ca_certs
        self.console_url = console_url
        self.keepalive_s = int(keepalive_s)
        self.reconnect = (max(1, int(reconnect_min_s)), max(1, int(reconnect_max_s)))
        self.backlog = collections.deque()  # type: collections.deque  # of Message
        self.backlog_max = max(1, int(backlog))
        self.health_s = float(health_s)
        self.health_fn = health_fn
        self.cameras = set(cameras)
        self.client_id = client_id
        self.clock = clock
        self.last_plate = {}  # type: Dict[str, str]  # camera -> its last event (retained)
        self.presence = {}  # type: Dict[str, Tuple[float, str]]  # label -> (off at, attributes)
        self.next_health = 0.0
        self.client = None  # type: Any
        self._lock = threading.Lock()
        self._connected = False
        self._fresh = False  # connected since the retained state was last published
        self.stats = {"mqtt_published": 0, "mqtt_unpublished": 0, "mqtt_dropped": 0,
                      "mqtt_backlog": 0, "mqtt_connects": 0, "mqtt_disconnects": 0,
                      "mqtt_connected": 0}

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> "MqttPublisher":
        """Create the client and start paho's network thread (connects in the background)."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        if self.target["username"] is not None:
            client.username_pw_set(self.target["username"], self.target["password"])
        if self.target["tls"]:
            client.tls_set(ca_certs=self.ca_certs or None)
        client.will_set(self.topics.status, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(*self.reconnect)
        # paho's own queue (sent, not yet acknowledged) is bounded too, with room for a
        # flushed backlog plus the retained state republished on a reconnect
        client.max_queued_messages_set(2 * self.backlog_max + 256)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self.client = client
        client.connect_async(self.target["host"], self.target["port"], keepalive=self.keepalive_s)
        client.loop_start()
        log.info("MQTT to %s (prefix %s, discovery %s)", redact_url(self.url), self.topics.prefix,
                 self.discovery_prefix or "off")
        return self

    def close(self, timeout_s: float = 3.0) -> None:
        """Say "offline" (retained), wait briefly for what is in flight, stop the thread."""
        if self.client is None:
            return
        try:
            self._sync()
            if self.connected:
                info = self.client.publish(self.topics.status, OFFLINE, qos=1, retain=True)
                info.wait_for_publish(timeout_s)
            self.client.disconnect()
        except Exception as exc:  # noqa: BLE001 - shutting down; the last will covers us
            log.debug("MQTT close: %s", exc)
        self.client.loop_stop()
        self.client = None

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    # --- what the dispatcher calls -------------------------------------------------------
    def event(self, event: Dict[str, Any], evidence: Sequence[str] = ()) -> None:
        """One stored and streamed event: <prefix>/events, the camera's last plate (retained),
        its label's presence, and the camera's discovery config the first time it is seen.
        `evidence`: the pictures the store holds for it ("crop", "frame"), linked as URLs."""
        payload = json.dumps(self.event_payload(event, evidence), sort_keys=True)
        camera = str(event.get("camera") or "")
        if camera not in self.cameras:
            self.cameras.add(camera)
            if self.discovery_prefix:
                topic, config = ha_discovery.camera_sensor(self.discovery_prefix, self.topics,
                                                           camera)
                self._send(topic, json.dumps(config, sort_keys=True), True)
        self._send(self.topics.events, payload, False)
        self.last_plate[camera] = payload
        self._send(self.topics.plate(camera), payload, True)
        label = str(event.get("label") or "")
        if label:
            attributes = json.dumps({"plate": event.get("plate"), "camera": camera,
                                     "note": event.get("note", ""), "event_id": event.get("id"),
                                     "at": event.get("emitted")}, sort_keys=True)
            self.presence[label] = (self.clock() + self.presence_s, attributes)
            self._send(self.topics.label_attributes(label), attributes, True)
            self._send(self.topics.label(label), "ON", True)

    def alert(self, topic: str, alert: Dict[str, Any]) -> None:
        """An alert rule's MQTT target (not retained: each alert is news once)."""
        self._send(topic, json.dumps(alert, sort_keys=True), False)

    def tick(self, now: Optional[float] = None) -> None:
        """From the dispatcher loop: republish after a reconnect, flush the backlog, turn
        lapsed presence off, publish fleet health every `health_s`."""
        now = self.clock() if now is None else now
        self._sync()
        for label, (off_at, _attributes) in list(self.presence.items()):
            if now >= off_at:
                del self.presence[label]
                self._send(self.topics.label(label), "OFF", True)
        if self.health_fn is not None and now >= self.next_health:
            self.next_health = now + self.health_s
            try:
                health = self.health_fn()
            except Exception as exc:  # noqa: BLE001 - Redis down: the next tick tries again
                log.debug("fleet health not read: %s", exc)
            else:
                self._send(self.topics.health, json.dumps(health, sort_keys=True), True,
                           keep=False)

    def all_stats(self) -> Dict[str, int]:
        with self._lock:
            return dict(self.stats)

    def event_payload(self, event: Dict[str, Any], evidence: Sequence[str] = ()) -> Dict[str, Any]:
        """The event as on the events stream, with `crop` / `frame` as console URLs (None
        where the store holds no such picture)."""
        out = dict(event)
        for kind in ("crop", "frame"):
            out[kind] = evidence_url(self.console_url, str(event.get("id")), kind) \
                if kind in evidence and event.get("id") else None
        return out

    # --- sending -----------------------------------------------------------------------
    def _send(self, topic: str, payload: str, retain: bool, keep: bool = True) -> None:
        """Publish now (QoS 1) if connected, else keep it in the backlog (`keep`) and count it."""
        self._sync()
        if self.connected and self._publish(topic, payload, retain):
            return
        with self._lock:
            self.stats["mqtt_unpublished"] += 1
            if keep:
                if len(self.backlog) >= self.backlog_max:
                    self.backlog.popleft()
                    self.stats["mqtt_dropped"] += 1
                self.backlog.append((topic, payload, retain))
            self.stats["mqtt_backlog"] = len(self.backlog)

    def _publish(self, topic: str, payload: str, retain: bool) -> bool:
        import paho.mqtt.client as mqtt

        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # paho's queue is full: the broker is stuck
            with self._lock:
                self.stats["mqtt_dropped"] += 1
            return True  # counted as dropped, not kept
        # MQTT_ERR_NO_CONN here means the link broke just now: paho keeps the QoS 1 message
        # and sends it again after the reconnect
        return True

    def _sync(self) -> None:
        """After a (re)connect: the retained state first, then the backlog in order."""
        with self._lock:
            if not (self._connected and self._fresh):
                return
            self._fresh = False
            pending, self.backlog = list(self.backlog), collections.deque()
            self.stats["mqtt_backlog"] = 0
        if pending:
            log.info("MQTT connected: sending %d messages kept while the broker was away",
                     len(pending))
        for topic, payload, retain in self._retained_state() + pending:
            self._publish(topic, payload, retain)

    def _retained_state(self) -> List[Message]:
        out = [(self.topics.status, ONLINE, True)]  # type: List[Message]
        if self.discovery_prefix:
            out.extend((topic, json.dumps(config, sort_keys=True), True) for topic, config in
                       ha_discovery.fleet_configs(self.discovery_prefix, self.topics,
                                                  [c for c in self.cameras if c]))
        out.extend((self.topics.plate(cam), payload, True)
                   for cam, payload in sorted(self.last_plate.items()))
        for label in LABELS:  # a fresh process knows of no car present: OFF
            state = self.presence.get(label)
            if state is not None:
                out.append((self.topics.label_attributes(label), state[1], True))
            out.append((self.topics.label(label), "ON" if state else "OFF", True))
        return out

    # --- paho callbacks (network thread): flags and counters only ------------------------
    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any,
                    _properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker refused the connection: %s", reason)
            return
        with self._lock:
            self._connected, self._fresh = True, True
            self.stats["mqtt_connects"] += 1
            self.stats["mqtt_connected"] = 1
        log.info("MQTT connected to %s:%d", self.target["host"], self.target["port"])

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any,
                       _properties: Any = None) -> None:
        with self._lock:
            was, self._connected = self._connected, False
            self.stats["mqtt_connected"] = 0
            if was:
                self.stats["mqtt_disconnects"] += 1
        if was:
            log.warning("MQTT connection lost (%s); paho reconnects with backoff", reason)

    def _on_publish(self, _client: Any, _userdata: Any, _mid: int, _reason: Any = None,
                    _properties: Any = None) -> None:
        with self._lock:
            self.stats["mqtt_published"] += 1
