"""Alert rules: parsing refuses bad rules by name; evaluation (condition, cameras, schedule in a
timezone, per-plate rate limit) is pure logic, tested here with a fake clock."""
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alpr.alert_rules import parse_rules
from alpr.errors import ConfigError
from alpr.settings import Settings
from dispatcher.alerts import AlertEngine, in_schedule
from helpers_dispatch import FakeClock
from testenv import subprocess_env


def event(plate="BAD6666", camera="gate", label="deny", note=""):
    return {"plate": plate, "camera": camera, "label": label, "note": note, "site": "north",
            "id": "%s:f-%s" % (camera, plate)}


def rules(*items):
    return parse_rules(list(items))


def at(text, zone="UTC"):
    """Unix seconds of a local wall-clock time, e.g. at('2026-12-07 08:30', 'Europe/Berlin')."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone)).timestamp()


@pytest.mark.parametrize("rule, says", [
    ({"when": {"label": "deny"}}, "alert rule #1 has no name"),
    ({"name": "r", "when": {"label": "deny"}, "colour": "red"}, "alert rule 'r': unknown key(s) colour"),
    ({"name": "r"}, "alert rule 'r': `when` must be a map"),
    ({"name": "r", "when": {"label": "maybe"}}, "alert rule 'r': when.label must be allow or deny"),
    ({"name": "r", "when": {"pattern": "(AB"}}, "alert rule 'r': when.pattern '(AB' is not a regex"),
    ({"name": "r", "when": {"colour": "red"}}, "alert rule 'r': unknown condition(s) colour"),
    ({"name": "r", "when": {"unknown": "yes"}}, "alert rule 'r': when.unknown must be true or false"),
    ({"name": "r", "when": {"label": "deny", "unknown": True}}, "alert rule 'r': a plate cannot"),
    ({"name": "r", "when": {"label": "deny"}, "schedule": {"days": ["funday"]}},
     "alert rule 'r': schedule day 'funday'"),
    ({"name": "r", "when": {"label": "deny"}, "schedule": {"times": ["8-17"]}},
     "alert rule 'r': schedule time '8-17' is not HH:MM-HH:MM"),
    ({"name": "r", "when": {"label": "deny"}, "schedule": {"times": ["25:00-26:00"]}},
     "alert rule 'r': schedule time '25:00-26:00' is not a time of day"),
    ({"name": "r", "when": {"label": "deny"}, "schedule": {"timezone": "Mars/Olympus"}},
     "alert rule 'r': unknown timezone 'Mars/Olympus'"),
    ({"name": "r", "when": {"label": "deny"}, "rate_limit_s": -5},
     "alert rule 'r': rate_limit_s must be a number of seconds >= 0"),
    ({"name": "r", "when": {"label": "deny"}, "targets": {"webhooks": ["ftp://x"]}},
     "alert rule 'r': webhook 'ftp://x' is not an http(s) URL"),
    ({"name": "r", "when": {"label": "deny"}, "targets": {"mqtt": "a/#"}},
     "alert rule 'r': MQTT topic 'a/#' may not hold + or #"),
    ({"name": "r", "when": {"label": "deny"}, "targets": {"console": False}},
     "alert rule 'r': no target"),
    ({"name": "r", "when": {"label": "deny"}, "targets": {"sms": "555"}},
     "alert rule 'r': unknown target(s) sms"),
    ({"name": "r", "when": {"label": "deny"}, "message": "{plate} {colour}"},
     "alert rule 'r': message '{plate} {colour}' uses an unknown field"),
    ({"name": "r", "when": {"label": "deny"}, "where": [{"cam": 1}]},
     "alert rule 'r': where must be a list of names"),
])
def test_bad_rules_are_refused_naming_the_rule(rule, says):
    with pytest.raises(ConfigError) as err:
        Settings().with_values({"alerts": [rule]})
    assert str(err.value).startswith(says), str(err.value)


def test_two_rules_with_one_name_are_refused():
    rule = {"name": "twice", "when": {"label": "deny"}}
    with pytest.raises(ConfigError, match="alert rule 'twice': the name is used twice"):
        parse_rules([rule, dict(rule)])


def test_rules_come_from_the_settings_file(tmp_path):
    path = tmp_path / "alpr.yaml"
    path.write_text("""
alert_timezone: Europe/Berlin
alerts:
  - name: denied at the gate
    when: {label: deny}
    where: [gate]
    schedule: {days: [mon, tue], times: ["22:00-06:00"]}
    rate_limit_s: 120
    targets: {webhooks: ["http://127.0.0.1:9/hook"], mqtt: site/alerts, console: false}
    message: "{plate} is banned ({note})"
""")
    settings = Settings.load(str(path), env={})
    (rule,) = settings.alerts
    assert settings.alert_timezone == "Europe/Berlin"
    assert (rule.name, rule.label, rule.cameras, rule.days, rule.times) == (
        "denied at the gate", "deny", ("gate",), (0, 1), ((22 * 60, 6 * 60),))
    assert (rule.rate_limit_s, rule.webhooks, rule.mqtt_topic, rule.console) == (
        120.0, ("http://127.0.0.1:9/hook",), "site/alerts", False)


def test_a_bad_rule_stops_the_dispatcher_at_startup(tmp_path):
    path = tmp_path / "alpr.yaml"
    path.write_text("alerts:\n  - name: night watch\n    when: {pattern: '[A-'}\n")
    out = subprocess.run([sys.executable, "-m", "alpr", "dispatch", "--config", str(path)],
                         env=subprocess_env(ALPR_REDIS_URL="redis://127.0.0.1:9/0"),
                         capture_output=True, timeout=60)
    assert out.returncode == 2
    assert "alert rule 'night watch': when.pattern '[A-' is not a regex" in out.stderr.decode()


def test_an_mqtt_target_without_a_broker_is_refused():
    from alpr.keys import Keys
    from dispatcher.alert_targets import AlertTargets

    engine = AlertEngine(rules({"name": "m", "when": {"label": "deny"},
                                "targets": {"mqtt": "x/alerts"}}))
    with pytest.raises(ConfigError, match="alert rule 'm' publishes to MQTT topic x/alerts but"):
        AlertTargets(engine, redis=None, keys=Keys(), mqtt=None)


def test_conditions_and_cameras():
    clock = FakeClock(at("2026-12-07 12:00"))
    engine = AlertEngine(rules(
        {"name": "deny", "when": {"label": "deny"}},
        {"name": "stranger", "when": {"unknown": True}, "where": ["gate"]},
        {"name": "fleet car", "when": {"pattern": "^FLT\\d+$"}},
        {"name": "denied fleet car", "when": {"pattern": "^FLT", "label": "deny"}}), clock=clock)
    fired = lambda e: [r.name for r, _ in engine.evaluate(e)]  # noqa: E731
    assert fired(event("BAD6666", label="deny")) == ["deny"]
    assert fired(event("RES1234", label="allow")) == []
    assert fired(event("NEW0001", label="")) == ["stranger"]
    assert fired(event("NEW0002", camera="exit", label="")) == []  # not this rule's camera
    assert fired(event("FLT123", label="")) == ["stranger", "fleet car"]
    assert fired(event("FLT999", camera="exit", label="deny")) == [
        "deny", "fleet car", "denied fleet car"]
    assert fired(event("fl-t777", camera="exit", label="allow")) == ["fleet car"]  # normalised


def test_the_alert_record():
    clock = FakeClock(at("2026-12-07 12:00"))
    engine = AlertEngine(rules({"name": "deny", "when": {"label": "deny"},
                                "message": "{plate} at {camera} ({site}): {note}"}), clock=clock)
    ((_rule, alert),) = engine.evaluate(event(note="banned"))
    assert alert == {"rule": "deny", "plate": "BAD6666", "camera": "gate",
                     "event_id": "gate:f-BAD6666", "label": "deny", "at": clock.now,
                     "message": "BAD6666 at gate (north): banned"}


def test_rate_limit_per_plate_and_rule():
    clock = FakeClock(at("2026-12-07 12:00"))
    engine = AlertEngine(rules({"name": "deny", "when": {"label": "deny"}, "rate_limit_s": 60},
                               {"name": "any deny", "when": {"label": "deny"}, "rate_limit_s": 0}),
                         clock=clock)
    fired = lambda e: [r.name for r, _ in engine.evaluate(e)]  # noqa: E731
    assert fired(event("BAD6666")) == ["deny", "any deny"]
    clock.now += 59
    assert fired(event("BAD6666", camera="exit")) == ["any deny"]  # per plate, any camera
    assert fired(event("BAD7777")) == ["deny", "any deny"]  # another plate: its own limit
    clock.now += 1
    assert fired(event("BAD6666")) == ["deny", "any deny"]
    assert engine.stats == {"alerts_fired": 7, "alerts_rate_limited": 1,
                            "alerts_off_schedule": 0}


def test_schedule_days_and_times_in_the_timezone():
    berlin = "Europe/Berlin"
    (office,) = rules({"name": "office", "when": {"label": "deny"},
                       "schedule": {"days": ["mon", "tue", "wed", "thu", "fri"],
                                    "times": ["08:00-12:30", "13:30-18:00"]}})
    # 2026-12-07 is a Monday
    assert in_schedule(office, at("2026-12-07 08:00", berlin), berlin)
    assert not in_schedule(office, at("2026-12-07 07:59", berlin), berlin)
    assert not in_schedule(office, at("2026-12-07 12:45", berlin), berlin)
    assert in_schedule(office, at("2026-12-07 17:59", berlin), berlin)
    assert not in_schedule(office, at("2026-12-07 18:00", berlin), berlin)
    assert not in_schedule(office, at("2026-12-05 10:00", berlin), berlin)  # Saturday
    # the same instant read in UTC is an hour earlier: 07:30 UTC = 08:30 in Berlin
    assert in_schedule(office, at("2026-12-07 07:30", "UTC"), berlin)
    assert not in_schedule(office, at("2026-12-07 07:30", "UTC"), "UTC")


def test_a_night_range_belongs_to_the_day_it_starts_on():
    (night,) = rules({"name": "friday night", "when": {"label": "deny"},
                      "schedule": {"days": ["fri"], "times": ["22:00-06:00"],
                                   "timezone": "America/New_York"}})
    ny = "America/New_York"
    assert in_schedule(night, at("2026-12-04 23:00", ny), "UTC")  # Friday
    assert in_schedule(night, at("2026-12-05 05:59", ny), "UTC")  # Saturday early: Friday's night
    assert not in_schedule(night, at("2026-12-05 06:00", ny), "UTC")
    assert not in_schedule(night, at("2026-12-05 23:00", ny), "UTC")  # Saturday night
    assert not in_schedule(night, at("2026-12-04 05:00", ny), "UTC")  # Thursday's night


def test_off_schedule_events_fire_nothing_and_are_counted():
    clock = FakeClock(at("2026-12-07 12:00"))  # a Monday, noon UTC
    engine = AlertEngine(rules({"name": "weekend", "when": {"label": "deny"},
                                "schedule": {"days": ["sat", "sun"]}}), clock=clock)
    assert engine.evaluate(event()) == []
    clock.now = at("2026-12-12 12:00")  # Saturday
    assert [r.name for r, _ in engine.evaluate(event())] == ["weekend"]
    assert engine.stats["alerts_off_schedule"] == 1


def test_rate_limit_memory_is_pruned():
    clock = FakeClock(at("2026-12-07 12:00"))
    engine = AlertEngine(rules({"name": "deny", "when": {"label": "deny"}, "rate_limit_s": 10}),
                         clock=clock)
    for i in range(100):
        engine.evaluate(event("BAD%04d" % i))
    clock.now += 120
    engine.evaluate(event("BAD9999"))
    assert list(engine.last_fired) == [("deny", "BAD9999")]


def test_rules_from_the_environment_as_yaml_text():
    settings = Settings.load(env={"ALPR_ALERTS": "[{name: env rule, when: {unknown: true}}]",
                                  "ALPR_ALERT_TIMEZONE": "Asia/Tokyo"})
    assert [r.name for r in settings.alerts] == ["env rule"] and settings.alerts[0].unknown
    with pytest.raises(ConfigError, match="alert_timezone: unknown timezone 'Nowhere/Land'"):
        Settings.load(env={"ALPR_ALERT_TIMEZONE": "Nowhere/Land"})
    assert Settings.load(env={}).alerts == []


@pytest.mark.parametrize("args, rules_yaml, says", [
    (["--mqtt", "http://broker:1883"], "", "MQTT URL http://broker:1883: use mqtt://host:1883"),
    ([], "alerts:\n  - {name: to mqtt, when: {label: deny}, targets: {mqtt: site/alerts}}\n",
     "alert rule 'to mqtt' publishes to MQTT topic site/alerts but no MQTT broker is set"),
])
def test_bad_mqtt_settings_stop_the_dispatcher_at_startup(redis_url, tmp_path, args, rules_yaml,
                                                          says):
    path = tmp_path / "alpr.yaml"
    path.write_text(rules_yaml or "{}\n")
    out = subprocess.run([sys.executable, "-m", "alpr", "dispatch", "--config", str(path)] + args,
                         env=subprocess_env(ALPR_REDIS_URL=redis_url, ALPR_NAMESPACE="bad:"),
                         capture_output=True, timeout=60)
    assert out.returncode == 2, out.stderr.decode()
    assert says in out.stderr.decode()
