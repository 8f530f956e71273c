"""Which alert rules an event fires: the rule's condition, cameras, schedule and per-plate
rate limit. Pure logic over an injected clock (the targets live in dispatcher.alert_targets).

Schedules are read in the rule's timezone (else the settings' alert_timezone): a rule with
days and time ranges fires only when the alert time falls inside one of the ranges on one of
the days; a range that crosses midnight (22:00-06:00) belongs to the day it starts on.
"""
import re
import time
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from alpr import defaults
from alpr.alert_rules import AlertRule, check_timezone
from alpr.plate_formats import normalize_plate

ALERT_FIELDS = ("rule", "plate", "camera", "event_id", "label", "at", "message")


def matches(rule: AlertRule, event: Dict[str, Any]) -> bool:
    """The rule's condition and cameras hold for this event (time aside)."""
    if rule.cameras and str(event.get("camera") or "") not in rule.cameras:
        return False
    label = str(event.get("label") or "")
    if rule.label and label != rule.label:
        return False
    if rule.unknown and label:
        return False
    if rule.pattern and not re.search(rule.pattern, normalize_plate(str(event.get("plate") or ""))):
        return False
    return True


def in_schedule(rule: AlertRule, at: float, timezone: str) -> bool:
    """`at` (unix s) falls within the rule's days and time ranges, read in `timezone`."""
    if not rule.days and not rule.times:
        return True
    local = datetime.fromtimestamp(at, _zone(rule.timezone or timezone))
    day, minute = local.weekday(), local.hour * 60 + local.minute
    days = rule.days or tuple(range(7))
    if not rule.times:
        return day in days
    for start, end in rule.times:
        if start < end:
            if day in days and start <= minute < end:
                return True
        elif (minute >= start and day in days) or (minute < end and (day - 1) % 7 in days):
            return True  # crosses midnight: the early hours belong to the day before
    return False


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name or "UTC")


class AlertEngine(object):
    """Rules in order; `evaluate(event)` returns the alerts it fires now (rate limits kept here)."""

    def __init__(self, rules: Sequence[AlertRule], timezone: str = defaults.ALERT_TIMEZONE,
                 clock: Callable[[], float] = time.time) -> None:
        check_timezone(timezone, "alert_timezone")
        self.rules = list(rules)
        self.timezone = timezone or defaults.ALERT_TIMEZONE
        self.clock = clock
        self.last_fired = {}  # type: Dict[Tuple[str, str], float]  # (rule, plate) -> at
        self.longest_limit = max([r.rate_limit_s for r in self.rules] or [0.0])
        self.next_prune = 0.0
        self.stats = {"alerts_fired": 0, "alerts_rate_limited": 0, "alerts_off_schedule": 0}

    def evaluate(self, event: Dict[str, Any]) -> List[Tuple[AlertRule, Dict[str, Any]]]:
        """(rule, alert) for each rule the event fires; alert has ALERT_FIELDS."""
        at = self.clock()
        plate = normalize_plate(str(event.get("plate") or ""))
        fired = []  # type: List[Tuple[AlertRule, Dict[str, Any]]]
        for rule in self.rules:
            if not matches(rule, event):
                continue
            if not in_schedule(rule, at, self.timezone):
                self.stats["alerts_off_schedule"] += 1
                continue
            key = (rule.name, plate)
            last = self.last_fired.get(key)
            if last is not None and at - last < rule.rate_limit_s:
                self.stats["alerts_rate_limited"] += 1
                continue
            self.last_fired[key] = at
            self.stats["alerts_fired"] += 1
            fired.append((rule, make_alert(rule, event, at)))
        self._prune(at)
        return fired

    def _prune(self, at: float) -> None:
        """Forget rate-limit entries older than the longest limit (memory stays bounded)."""
        if at < self.next_prune:
            return
        self.next_prune = at + max(60.0, self.longest_limit)
        horizon = at - self.longest_limit
        for key in [k for k, t in self.last_fired.items() if t <= horizon]:
            del self.last_fired[key]


def make_alert(rule: AlertRule, event: Dict[str, Any], at: float,
               message: Optional[str] = None) -> Dict[str, Any]:
    """The alert record: the same object in the store, the stream, webhooks and MQTT."""
    fields = {"rule": rule.name, "plate": str(event.get("plate") or ""),
              "camera": str(event.get("camera") or ""), "site": str(event.get("site") or ""),
              "label": str(event.get("label") or ""), "note": str(event.get("note") or ""),
              "event_id": str(event.get("id") or "")}
    text = message if message is not None else rule.message.format(**fields)
    return {"rule": rule.name, "plate": fields["plate"], "camera": fields["camera"],
            "event_id": fields["event_id"], "label": fields["label"], "at": float(at),
            "message": text}
