"""The event store on SQLite and on a real PostgreSQL server: schema, idempotent writes,
reads, cameras, known plates."""
import pytest

from alpr.errors import StoreError
from store import open_store
from store.migrations import available, current_version
from event_helpers import make_event


def test_schema_is_migrated_once_and_records_its_version(db_url):
    store = open_store(db_url)
    assert current_version(store.db) == len(available()) >= 1
    store.close()
    again = open_store(db_url)  # a second start applies nothing and keeps the data
    assert current_version(again.db) == len(available())
    rows = again.db.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, len(available()) + 1))
    again.close()


def test_newer_schema_is_refused(db_url):
    store = open_store(db_url)
    with store.db.transaction() as cur:
        cur.execute("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                    (999, "future", 0.0))
    store.close()
    with pytest.raises(StoreError, match="upgrade the code"):
        open_store(db_url)


def test_events_are_stored_once_with_reads_cameras_and_evidence_paths(event_store):
    a = make_event("ABC1234", first_seen=1000.0)
    b = make_event("QWE5678", camera="cam1", first_seen=1010.0, label="deny")
    evidence = {"crop": "/data/evidence/a/crop.jpg", "frame": "/data/evidence/a/frame.jpg",
                "bytes": 1234}
    assert event_store.write_events([(a, evidence), (b, None)]) == [a["id"], b["id"]]
    assert event_store.write_events([(a, evidence), (b, None)]) == []  # a replay: no duplicates
    assert event_store.count() == 2
    got = event_store.get(a["id"])
    assert got["plate"] == "ABC1234" and got["camera"] == "cam0" and got["site"] == "gate"
    assert got["first_seen"] == 1000.0 and got["last_seen"] == 1002.0
    assert got["crop"] == evidence["crop"] and got["frame"] == evidence["frame"]
    assert got["candidates"][0]["text"] == "ABC1234" and got["region"] == "br"
    assert event_store.get(b["id"])["label"] == "deny" and event_store.get(b["id"])["crop"] is None
    assert [r["text"] for r in event_store.reads(a["id"])] == ["ABC1234", "ABC123X"]
    cams = {c["camera"]: c for c in event_store.cameras()}
    assert cams["cam0"]["events"] == 1 and cams["cam1"]["events"] == 1
    assert cams["cam1"]["last_seen"] == 1012.0
    assert event_store.get("cam0:nope") is None


def test_timestamps_keep_sub_second_precision(event_store):
    event = make_event("ABC1234", first_seen=1764612345.123456)
    event_store.write_events([(event, None)])
    assert abs(event_store.get(event["id"])["first_seen"] - 1764612345.123456) < 1e-6
    row = event_store.db.query("SELECT first_seen FROM events")[0][0]
    assert abs(row - 1764612345.123456) < 1e-6  # the column, not only the JSON body


def test_known_plates_crud(event_store):
    saved = event_store.put_known_plate("abc-1234", "Allow", "staff")
    assert saved["plate"] == "ABC1234" and saved["label"] == "allow" and saved["note"] == "staff"
    event_store.put_known_plate("ABC1234", "deny", "stolen")
    assert [(p["plate"], p["label"], p["note"]) for p in event_store.known_plates()] == [
        ("ABC1234", "deny", "stolen")]
    with pytest.raises(StoreError, match="allow or deny"):
        event_store.put_known_plate("XYZ9", "maybe")
    with pytest.raises(StoreError, match="no letters"):
        event_store.put_known_plate("--", "deny")
    assert event_store.delete_known_plate("abc1234") is True
    assert event_store.delete_known_plate("abc1234") is False
    assert event_store.known_plates() == []
