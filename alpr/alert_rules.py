"""Alert rules as the settings file writes them, checked and turned into frozen AlertRule values.

A rule says when (the plate's label, a plate in no list, a plate pattern), where (cameras),
when in time (days and time ranges in a timezone), how often (per plate) and where to (webhook
URLs, an MQTT topic, the console banner). Anything wrong is a ConfigError that names the rule,
so a dispatcher with a bad rule refuses to start. Evaluation lives in dispatcher.alerts.
"""
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from alpr import defaults
from alpr.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
WHEN_KEYS = ("label", "unknown", "pattern")
RULE_KEYS = ("name", "when", "where", "schedule", "rate_limit_s", "targets", "message")
TARGET_KEYS = ("webhooks", "webhook", "mqtt", "console")
MESSAGE_FIELDS = ("rule", "plate", "camera", "site", "label", "note", "event_id")
_TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MQTT_TOPIC = re.compile(r"^[^#+\x00]+$")


class AlertRule(object):
    """One checked rule (immutable by convention: built once from the settings file)."""

    __slots__ = ("name", "label", "unknown", "pattern", "cameras", "days", "times",
                 "timezone", "rate_limit_s", "webhooks", "mqtt_topic", "console", "message")

    def __init__(self, name: str, label: str = "", unknown: bool = False, pattern: str = "",
                 cameras: Sequence[str] = (), days: Sequence[int] = (),
                 times: Sequence[Tuple[int, int]] = (), timezone: str = "",
                 rate_limit_s: float = defaults.ALERT_RATE_LIMIT_S,
                 webhooks: Sequence[str] = (), mqtt_topic: str = "", console: bool = True,
                 message: str = defaults.ALERT_MESSAGE) -> None:
        self.name = name
        self.label = label  # "allow" / "deny"; "" = any label
        self.unknown = bool(unknown)  # True: only plates in no known-plates list
        self.pattern = pattern  # a regex over the normalised plate ("" = any plate)
        self.cameras = tuple(cameras)  # () = every camera
        self.days = tuple(days)  # weekday numbers (0 = Monday); () = every day
        self.times = tuple(times)  # (start, end) minutes of the day; end < start crosses midnight
        self.timezone = timezone  # "" = the settings' alert_timezone
        self.rate_limit_s = float(rate_limit_s)
        self.webhooks = tuple(webhooks)
        self.mqtt_topic = mqtt_topic
        self.console = bool(console)
        self.message = message

    def __repr__(self) -> str:
        return "AlertRule(%r)" % self.name

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AlertRule) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self) -> int:
        return hash(self.name)


def parse_rules(raw: Any) -> List[AlertRule]:
    """The `alerts` setting (a list of maps, or YAML text of one) -> checked rules."""
    if isinstance(raw, str):
        import yaml

        try:
            raw = yaml.safe_load(raw) if raw.strip() else []
        except yaml.YAMLError as exc:
            raise ConfigError("alerts: not YAML: %s" % exc) from exc
    if raw is None:
        return []
    if isinstance(raw, AlertRule):
        return [raw]
    if not isinstance(raw, (list, tuple)):
        raise ConfigError("alerts must be a list of rules, got %s" % type(raw).__name__)
    rules = []  # type: List[AlertRule]
    names = set()  # type: set
    for i, item in enumerate(raw):
        rule = item if isinstance(item, AlertRule) else parse_rule(item, i)
        if rule.name in names:
            raise ConfigError("alert rule %r: the name is used twice" % rule.name)
        names.add(rule.name)
        rules.append(rule)
    return rules


def parse_rule(item: Any, index: int = 0) -> AlertRule:
    """One rule map -> AlertRule; a ConfigError names the rule (or its position)."""
    label = "alert rule #%d" % (index + 1)
    if not isinstance(item, Mapping):
        raise ConfigError("%s must be a map, got %r" % (label, item))
    name = str(item.get("name") or "").strip()
    if name:
        label = "alert rule %r" % name
    else:
        raise ConfigError("%s has no name" % label)
    unknown = sorted(set(str(k) for k in item) - set(RULE_KEYS))
    if unknown:
        raise ConfigError("%s: unknown key(s) %s (known: %s)"
                          % (label, ", ".join(unknown), ", ".join(RULE_KEYS)))
    when = _when(label, item.get("when"))
    cameras = _strings(label, "where", item.get("where"))
    days, times, timezone = _schedule(label, item.get("schedule"))
    rate = _number(label, "rate_limit_s", item.get("rate_limit_s", defaults.ALERT_RATE_LIMIT_S))
    webhooks, topic, console = _targets(label, item.get("targets"))
    message = str(item.get("message") or defaults.ALERT_MESSAGE)
    try:
        message.format(**dict((k, "x") for k in MESSAGE_FIELDS))
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError("%s: message %r uses an unknown field %s (known: %s)"
                          % (label, message, exc, ", ".join(MESSAGE_FIELDS))) from None
    return AlertRule(name, label=when["label"], unknown=when["unknown"], pattern=when["pattern"],
                     cameras=cameras, days=days, times=times, timezone=timezone,
                     rate_limit_s=rate, webhooks=webhooks, mqtt_topic=topic, console=console,
                     message=message)


def check_timezone(name: str, what: str) -> None:
    """Refuse a timezone name the system's tz database does not know (Python >= 3.9)."""
    if not name:
        return
    try:
        from zoneinfo import ZoneInfo
    except ImportError:  # 3.6 nodes never evaluate alerts (the dispatcher is 3.11)
        return
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError("%s: unknown timezone %r" % (what, name)) from exc


def _when(label: str, when: Any) -> Dict[str, Any]:
    if not isinstance(when, Mapping) or not when:
        raise ConfigError("%s: `when` must be a map with one of %s"
                          % (label, ", ".join(WHEN_KEYS)))
    bad = sorted(set(str(k) for k in when) - set(WHEN_KEYS))
    if bad:
        raise ConfigError("%s: unknown condition(s) %s in `when` (known: %s)"
                          % (label, ", ".join(bad), ", ".join(WHEN_KEYS)))
    out = {"label": "", "unknown": False, "pattern": ""}  # type: Dict[str, Any]
    if "label" in when:
        out["label"] = str(when["label"] or "").strip().lower()
        if out["label"] not in ("allow", "deny"):
            raise ConfigError("%s: when.label must be allow or deny, got %r"
                              % (label, when["label"]))
    if "unknown" in when:
        if not isinstance(when["unknown"], bool):
            raise ConfigError("%s: when.unknown must be true or false" % label)
        out["unknown"] = when["unknown"]
    if out["label"] and out["unknown"]:
        raise ConfigError("%s: a plate cannot be labelled %s and in no list at once"
                          % (label, out["label"]))
    if "pattern" in when:
        out["pattern"] = str(when["pattern"] or "")
        try:
            re.compile(out["pattern"])
        except re.error as exc:
            raise ConfigError("%s: when.pattern %r is not a regex: %s"
                              % (label, out["pattern"], exc)) from exc
    if not (out["label"] or out["unknown"] or out["pattern"]):
        raise ConfigError("%s: `when` matches every plate; give a label, unknown: true or a "
                          "pattern" % label)
    return out


def _schedule(label: str, schedule: Any) -> Tuple[Tuple[int, ...], Tuple[Tuple[int, int], ...], str]:
    if schedule is None:
        return (), (), ""
    if not isinstance(schedule, Mapping):
        raise ConfigError("%s: schedule must be a map (days, times, timezone)" % label)
    bad = sorted(set(str(k) for k in schedule) - {"days", "times", "timezone"})
    if bad:
        raise ConfigError("%s: unknown schedule key(s) %s" % (label, ", ".join(bad)))
    days = []  # type: List[int]
    for day in _strings(label, "schedule.days", schedule.get("days")):
        key = day.strip().lower()[:3]
        if key not in DAYS:
            raise ConfigError("%s: schedule day %r is not one of %s" % (label, day, ", ".join(DAYS)))
        days.append(DAYS.index(key))
    times = []  # type: List[Tuple[int, int]]
    for text in _strings(label, "schedule.times", schedule.get("times")):
        match = _TIME_RANGE.match(text)
        if not match:
            raise ConfigError("%s: schedule time %r is not HH:MM-HH:MM" % (label, text))
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or h1 * 60 + m1 > 1440 or h2 * 60 + m2 > 1440:
            raise ConfigError("%s: schedule time %r is not a time of day" % (label, text))
        if h1 * 60 + m1 == h2 * 60 + m2:
            raise ConfigError("%s: schedule time %r is empty" % (label, text))
        times.append((h1 * 60 + m1, h2 * 60 + m2))
    timezone = str(schedule.get("timezone") or "")
    check_timezone(timezone, label)
    return tuple(sorted(set(days))), tuple(times), timezone


def _targets(label: str, targets: Any) -> Tuple[Tuple[str, ...], str, bool]:
    if targets is None:
        return (), "", True
    if not isinstance(targets, Mapping):
        raise ConfigError("%s: targets must be a map (webhooks, mqtt, console)" % label)
    bad = sorted(set(str(k) for k in targets) - set(TARGET_KEYS))
    if bad:
        raise ConfigError("%s: unknown target(s) %s (known: webhooks, mqtt, console)"
                          % (label, ", ".join(bad)))
    hooks = _strings(label, "targets.webhooks", targets.get("webhooks")) + \
        _strings(label, "targets.webhook", targets.get("webhook"))
    for url in hooks:
        if not url.startswith(("http://", "https://")):
            raise ConfigError("%s: webhook %r is not an http(s) URL" % (label, url))
    topic = str(targets.get("mqtt") or "")
    if topic and not _MQTT_TOPIC.match(topic):
        raise ConfigError("%s: MQTT topic %r may not hold + or #" % (label, topic))
    console = targets.get("console", True)
    if not isinstance(console, bool):
        raise ConfigError("%s: targets.console must be true or false" % label)
    if not (hooks or topic or console):
        raise ConfigError("%s: no target (webhooks, mqtt or console: true)" % label)
    return tuple(hooks), topic, console


def _strings(label: str, key: str, value: Any) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise ConfigError("%s: %s must be a list of names" % (label, key))
    return tuple(str(v).strip() for v in value)


def _number(label: str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:
        raise ConfigError("%s: %s must be a number of seconds >= 0, got %r" % (label, key, value))
    return number


def rule_names(rules: Optional[Sequence[AlertRule]]) -> List[str]:
    return [r.name for r in rules or ()]
