"""The alerts table (migration 2) on SQLite and a real PostgreSQL: alerts stored with their
events, once per (rule, event), listed newest first with filters; an existing version-1
database is upgraded in place."""
import pytest

from alpr.errors import StoreError
from event_helpers import make_event
from store.alerts import AlertQuery, AlertStore


def alert(event, rule="deny", at=None):
    return {"rule": rule, "plate": event["plate"], "camera": event["camera"],
            "event_id": event["id"], "label": event["label"], "at": at or event["emitted"],
            "message": "%s: %s at %s" % (rule, event["plate"], event["camera"])}


def test_alerts_are_stored_once_and_listed_with_filters(event_store):
    a = make_event("BAD6666", camera="gate", first_seen=1000.0, label="deny")
    b = make_event("NEW0001", camera="exit", first_seen=2000.0)
    c = make_event("BAD6666", camera="gate", first_seen=3000.0, label="deny")
    event_store.write_events([(a, None), (b, None), (c, None)])
    alerts = AlertStore(event_store.db)
    assert alerts.write([alert(a), alert(b, "stranger"), alert(c)]) == 3
    assert alerts.write([alert(a), alert(a, "night")]) == 1  # (deny, a) is already there
    listed = alerts.search(AlertQuery())
    assert [(x["rule"], x["event_id"]) for x in listed] == [
        ("deny", c["id"]), ("stranger", b["id"]), ("night", a["id"]), ("deny", a["id"])]
    assert set(listed[0]) == {"id", "rule", "plate", "camera", "event_id", "label", "at",
                              "message"}
    assert [x["event_id"] for x in alerts.search(AlertQuery(camera="exit"))] == [b["id"]]
    assert [x["event_id"] for x in alerts.search(AlertQuery(rule="deny", since=2000))] == [c["id"]]
    assert [x["event_id"] for x in alerts.search(AlertQuery(until=1010.0))] == [a["id"], a["id"]]
    assert [x["event_id"] for x in alerts.search(AlertQuery(limit=1, offset=1))] == [b["id"]]
    assert [x["rule"] for x in alerts.for_event(a["id"])] == ["deny", "night"]


def test_an_alert_needs_its_event(event_store):
    ghost = make_event("GHO5555")
    with pytest.raises(StoreError):  # the foreign key: alerts are kept with their events
        AlertStore(event_store.db).write([alert(ghost)])
    with pytest.raises(StoreError, match="alert without event_id"):
        AlertStore(event_store.db).write([dict(alert(ghost), event_id="")])


def test_bad_queries_are_refused():
    for query, says in ((AlertQuery(limit=0), "limit"), (AlertQuery(offset=-1), "offset"),
                        (AlertQuery(since=5, until=1), "since is after until")):
        with pytest.raises(StoreError, match=says):
            query.check()


def test_a_version_1_database_gains_the_alerts_table(tmp_path):
    from store.db import open_db
    from store.migrations import available, current_version, migrate

    db = open_db("sqlite:///%s" % (tmp_path / "old.db"))
    (first, name, module) = available()[0]
    with db.transaction() as cur:  # the schema as the previous release left it
        current_version(db)
        for statement in module.SQLITE:
            cur.execute(statement)
        cur.execute("INSERT INTO schema_migrations (version, name, applied) VALUES (1, ?, 0)",
                    (name,))
    assert current_version(db) == 1
    assert migrate(db) == len(available()) >= 2
    assert db.query("SELECT COUNT(*) FROM alerts")[0][0] == 0
    db.close()
