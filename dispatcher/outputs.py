"""What runs after each stored and streamed event, wired from settings: the MQTT publisher
(with Home Assistant discovery and the fleet health it carries) and the alert rules."""
import time
from typing import Any, Dict, List, Tuple

from alpr import defaults
from alpr.keys import Keys
from alpr.settings import Settings


def build_outputs(settings: Settings, redis: Any, keys: Keys, sink: Any, consumer_name: str,
                  webhook_retry: Any) -> Tuple[List[Any], Any]:
    """What runs after each stored and streamed event: MQTT (--mqtt), the alert rules; and
    the MQTT publisher (None without --mqtt), started by the caller."""
    outputs = []  # type: List[Any]
    mqtt = None
    if settings.mqtt_url:
        import os

        from dispatcher.mqtt import MqttPublisher

        cameras = [c.decode() if isinstance(c, bytes) else str(c)
                   for c in redis.smembers(keys.cameras)]
        mqtt = MqttPublisher(settings.mqtt_url, prefix=settings.mqtt_prefix,
                             discovery_prefix=settings.mqtt_discovery_prefix,
                             presence_s=settings.mqtt_presence_s, ca_certs=settings.mqtt_ca_certs,
                             console_url=settings.console_url,
                             cameras=cameras,
                             client_id="alpr-%s-%d" % (consumer_name, os.getpid()))
        outputs.append(mqtt)
    if settings.alerts:
        from dispatcher.alert_targets import AlertTargets
        from dispatcher.alerts import AlertEngine
        from dispatcher.webhooks import WebhookSender

        store_fn = None
        if sink is not None:
            from store.alerts import AlertStore

            store_fn = AlertStore(sink.store.db).write
        outputs.append(AlertTargets(
            AlertEngine(settings.alerts, settings.alert_timezone), redis, keys, store_fn, mqtt,
            webhook_factory=lambda urls: WebhookSender(list(urls), defaults.WEBHOOK_TIMEOUT_S,
                                                       webhook_retry).start()))
    return outputs, mqtt


def fleet_health(redis: Any, keys: Keys, fleet: Any, stats_fn: Any) -> Any:
    """What <prefix>/health carries: live nodes, queues, events, the dispatcher's counters."""

    def read() -> Dict[str, Any]:
        nodes = fleet.nodes()
        return {"state": "online", "time": time.time(),
                "nodes_alive": sum(1 for n in nodes if n["alive"]),
                "nodes": [{"name": n["name"], "alive": n["alive"], "drained": n["drained"],
                           "fps": n["stats"].get("fps"), "engine": n["stats"].get("engine")}
                          for n in nodes],
                "queues": fleet.queue_depths(), "events": int(redis.xlen(keys.events)),
                "dispatcher": stats_fn()}

    return read
