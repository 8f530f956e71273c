"""Deliver the alerts dispatcher.alerts fires: store them with their event, append them to the
alerts stream (the console's banner), POST them to the rule's webhooks, publish them to its
MQTT topic. Called after the event is stored and streamed; nothing here blocks the loop long
(webhooks and MQTT have their own threads) and no failure stops the dispatcher: each is counted.
"""
import json
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence

from alpr import defaults
from alpr.errors import ConfigError
from alpr.keys import Keys
from dispatcher.alerts import AlertEngine

log = logging.getLogger(__name__)

StoreFn = Callable[[List[Dict[str, Any]]], Any]


class AlertTargets(object):
    """A dispatcher output: `event(event)` evaluates the rules and delivers what fires."""

    def __init__(self, engine: AlertEngine, redis: Any, keys: Keys,
                 store_fn: Optional[StoreFn] = None, mqtt: Any = None,
                 webhook_factory: Optional[Callable[[Sequence[str]], Any]] = None,
                 maxlen: int = defaults.ALERTS_MAXLEN) -> None:
        self.engine = engine
        self.redis = redis
        self.keys = keys
        self.store_fn = store_fn
        self.mqtt = mqtt
        self.maxlen = int(maxlen)
        self.webhooks = {}  # type: Dict[str, Any]  # rule name -> its WebhookSender
        for rule in engine.rules:
            if rule.mqtt_topic and mqtt is None:
                raise ConfigError("alert rule %r publishes to MQTT topic %s but no MQTT broker "
                                  "is set (--mqtt)" % (rule.name, rule.mqtt_topic))
            if rule.webhooks:
                if webhook_factory is None:
                    raise ConfigError("alert rule %r has webhooks but no sender" % rule.name)
                self.webhooks[rule.name] = webhook_factory(rule.webhooks)
        self.stats = {"alerts_stored": 0, "alerts_unstored": 0, "alerts_streamed": 0,
                      "alerts_stream_failed": 0}

    def event(self, event: Dict[str, Any], _evidence: Sequence[str] = ()) -> List[Dict[str, Any]]:
        fired = self.engine.evaluate(event)
        if not fired:
            return []
        alerts = [alert for _, alert in fired]
        for _, alert in fired:
            log.warning("ALERT %s", alert["message"])
        if self.store_fn is not None:
            try:
                self.store_fn(alerts)
                self.stats["alerts_stored"] += len(alerts)
            except Exception as exc:  # noqa: BLE001 - the database may be down: counted
                self.stats["alerts_unstored"] += len(alerts)
                log.warning("%d alert(s) not stored: %s", len(alerts), exc)
        for rule, alert in fired:
            if rule.console:
                try:
                    self.redis.xadd(self.keys.alerts, {"json": json.dumps(alert, sort_keys=True)},
                                    maxlen=self.maxlen, approximate=True)
                    self.stats["alerts_streamed"] += 1
                except Exception as exc:  # noqa: BLE001 - Redis blip: the store still has it
                    self.stats["alerts_stream_failed"] += 1
                    log.warning("alert %s not streamed: %s", rule.name, exc)
            sender = self.webhooks.get(rule.name)
            if sender is not None:
                sender.submit(alert)  # a full queue is counted by the sender (dropped)
            if rule.mqtt_topic and self.mqtt is not None:
                self.mqtt.alert(rule.mqtt_topic, alert)
        return alerts

    def tick(self) -> None:
        """Nothing periodic (the dispatcher ticks every output)."""

    def all_stats(self) -> Dict[str, int]:
        out = dict(self.engine.stats)
        out.update(self.stats)
        for name in ("sent", "failed", "dropped"):
            out["alerts_webhook_" + name] = sum(s.stats.get(name, 0) for s in self.webhooks.values())
        return out

    def close(self) -> None:
        for sender in self.webhooks.values():
            sender.close()
