"""The REST API on a real store (SQLite and PostgreSQL): events, evidence, known plates, fleet,
the token, and clear 4xx answers to bad input."""
import json
import logging

import pytest

from api_helpers import client_for, stored_with_evidence
from event_helpers import make_event


def test_events_list_filters_paging_and_one_event(event_store, tmp_path):
    client, evidence = client_for(event_store, tmp_path / "ev")
    a = make_event("ABC1234", first_seen=1000.0)
    stored_with_evidence(event_store, evidence, a)
    event_store.write_events([(make_event("A8C1234", camera="cam1", first_seen=2000.0), None),
                              (make_event("XYZ9876", first_seen=3000.0, label="deny"), None)])
    got = client.get("/api/events", params={"plate": "ABC1234"}).json()
    assert [e["plate"] for e in got["events"]] == ["ABC1234", "A8C1234"]
    assert got["events"][0]["crop"] == "/api/events/%s/crop.jpg" % a["id"]
    assert got["events"][1]["crop"] is None
    assert [e["plate"] for e in client.get("/api/events?label=deny").json()["events"]] == [
        "XYZ9876"]
    assert [e["plate"] for e in client.get("/api/events?camera=cam1").json()["events"]] == [
        "A8C1234"]
    page = client.get("/api/events?limit=1&offset=1").json()
    assert [e["plate"] for e in page["events"]] == ["A8C1234"] and page["limit"] == 1
    assert [e["plate"] for e in client.get("/api/events?since=1500&until=2500").json()[
        "events"]] == ["A8C1234"]
    one = client.get("/api/events/" + a["id"]).json()
    assert one["plate"] == "ABC1234" and one["stored_reads"][0]["text"] == "ABC1234"
    crop = client.get("/api/events/%s/crop.jpg" % a["id"])
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.content == b"\xff\xd8crop"
    assert client.get("/api/events/%s/frame.jpg" % a["id"]).content == b"\xff\xd8frame"


@pytest.mark.parametrize("url, status, words", [
    ("/api/events?colour=red", 400, "unknown filter"),
    ("/api/events?camera=a%00b", 400, "printable"),
    ("/api/events?limit=100000", 422, "limit"),
    ("/api/events?limit=-1", 422, "limit"),
    ("/api/events?offset=x", 422, "offset"),
    ("/api/events?since=yesterday", 400, "cannot read time"),
    ("/api/events?since=10&until=5", 400, "since"),
    ("/api/events?label=vip", 400, "label"),
    ("/api/events?plate=--", 400, "no letters"),
    ("/api/events/" + "x" * 500, 400, "malformed event id"),
    ("/api/events/cam0:nope", 404, "no event"),
    ("/api/events/cam0:nope/crop.jpg", 404, "no event"),
    ("/api/known-plates/AB%3BDROP", 422, "plate"),
    ("/api/events/..%2F..%2Fetc%2Fpasswd/crop.jpg", 404, "no event"),
    ("/api/events/cam0:%00/frame.jpg", 400, "malformed"),
])
def test_bad_input_gets_a_clear_4xx(event_store, tmp_path, url, status, words):
    client, _ = client_for(event_store, tmp_path / "ev")
    answer = client.get(url)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_evidence_outside_the_evidence_root_is_never_served(event_store, tmp_path):
    client, evidence = client_for(event_store, tmp_path / "ev")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    event = make_event("ABC1234")
    # a row whose path points outside the root (a tampered database, a moved directory)
    event_store.write_events([(event, {"crop": str(secret), "frame": str(tmp_path / "ev" / ".."
                                                                        / "secret.jpg"),
                                       "bytes": 6})])
    for kind in ("crop", "frame"):
        answer = client.get("/api/events/%s/%s.jpg" % (event["id"], kind))
        assert answer.status_code == 404 and b"secret" not in answer.content


def test_known_plates_crud(event_store, tmp_path):
    client, _ = client_for(event_store, tmp_path / "ev")
    made = client.post("/api/known-plates", json={"plate": "abc-1234", "label": "allow",
                                                  "note": "staff"})
    assert made.status_code == 201 and made.json()["plate"] == "ABC1234"
    assert client.put("/api/known-plates/ABC1234", json={"label": "deny"}).json()["label"] == "deny"
    assert client.get("/api/known-plates/abc1234").json()["label"] == "deny"
    assert [p["plate"] for p in client.get("/api/known-plates").json()["known_plates"]] == [
        "ABC1234"]
    assert client.post("/api/known-plates", json={"plate": "X1", "label": "vip"}).status_code == 422
    assert client.delete("/api/known-plates/ABC1234").status_code == 204
    assert client.delete("/api/known-plates/ABC1234").status_code == 404
    assert client.get("/api/known-plates/ABC1234").status_code == 404


def test_token_is_required_but_for_health_and_never_logged(event_store, tmp_path, caplog):
    client, _ = client_for(event_store, tmp_path / "ev", token="s3cret-token")
    assert client.get("/api/health").json()["ok"] is True
    caplog.set_level(logging.WARNING, logger="alpr.api")
    for headers in ({}, {"X-API-Token": "wrong-guess"}):
        for path in ("/api/events", "/docs", "/api/known-plates"):
            assert client.get(path, headers=headers).status_code == 401
    assert client.get("/api/events", headers={"X-API-Token": "s3cret-token"}).status_code == 200
    assert client.get("/api/events",
                      headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert "401" in caplog.text and "wrong-guess" not in caplog.text
    assert "s3cret-token" not in caplog.text


def test_docs_and_fleet(event_store, tmp_path, redis_client, redis_url):
    from api.cli import fleet_reader
    from alpr.settings import Settings

    client, _ = client_for(event_store, tmp_path / "ev",
                           fleet=fleet_reader(Settings(redis_url=redis_url)))
    assert client.get("/docs").status_code == 200
    assert "/api/events" in json.dumps(client.get("/openapi.json").json()["paths"])
    fleet = client.get("/api/fleet").json()
    assert "cameras" in fleet and "nodes" in fleet
    down, _ = client_for(event_store, tmp_path / "ev",
                         fleet=fleet_reader(Settings(redis_url="redis://127.0.0.1:1/0")))
    answer = down.get("/api/fleet")
    assert answer.status_code == 503 and "Redis" in answer.json()["detail"]


def test_alerts_list_with_filters_and_paging(event_store, tmp_path):
    from store.alerts import AlertStore

    client, _ = client_for(event_store, tmp_path / "ev")
    a = make_event("BAD6666", camera="gate", first_seen=1000.0, label="deny")
    b = make_event("NEW0001", camera="exit", first_seen=2000.0)
    event_store.write_events([(a, None), (b, None)])
    AlertStore(event_store.db).write([
        {"rule": "deny", "plate": a["plate"], "camera": "gate", "event_id": a["id"],
         "label": "deny", "at": 1005.0, "message": "banned"},
        {"rule": "stranger", "plate": b["plate"], "camera": "exit", "event_id": b["id"],
         "label": "", "at": 2005.0, "message": "who is this"}])
    got = client.get("/api/alerts").json()
    assert [x["rule"] for x in got["alerts"]] == ["stranger", "deny"] and got["count"] == 2
    assert client.get("/api/alerts?camera=gate").json()["alerts"][0]["event_id"] == a["id"]
    assert [x["rule"] for x in client.get("/api/alerts?rule=stranger").json()["alerts"]] == [
        "stranger"]
    assert [x["rule"] for x in client.get("/api/alerts?since=1500").json()["alerts"]] == [
        "stranger"]
    assert [x["rule"] for x in client.get("/api/alerts?until=1500").json()["alerts"]] == ["deny"]
    assert [x["rule"] for x in client.get("/api/alerts?limit=1&offset=1").json()["alerts"]] == [
        "deny"]
    # the alert's event is one GET away
    assert client.get("/api/events/" + a["id"]).json()["plate"] == "BAD6666"
    for url, status in (("/api/alerts?plate=X", 400), ("/api/alerts?limit=0", 422),
                        ("/api/alerts?limit=100000", 422), ("/api/alerts?since=yesterdayish", 400),
                        ("/api/alerts?since=2000&until=1000", 400),
                        ("/api/alerts?camera=%01", 400)):
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.text)
        assert answer.json()["detail"]
