"""The console's HTML and SSE routes through FastAPI's TestClient, over a real store (SQLite
and PostgreSQL), a real evidence directory and the session's real redis-server."""
import json
import re
import time
import urllib.parse

import pytest
import redis
from fastapi.testclient import TestClient

from alpr.keys import Keys
from api.app import create_app
from api.console import Console
from api.console.live import parse_positions
from event_helpers import make_event
from store.evidence import EvidenceDir

KEYS = Keys("alpr:")


@pytest.fixture
def store(event_store):
    """A fresh store on SQLite and on the session's real PostgreSQL server."""
    return event_store


@pytest.fixture
def lite(tmp_path):
    """A SQLite store only (the stream and Redis-side routes do not depend on the backend)."""
    from store import open_store

    s = open_store("sqlite:///%s" % (tmp_path / "events.db"))
    yield s
    s.close()


def make_client(store, tmp_path, redis_url, token="", password=""):
    evidence = EvidenceDir(str(tmp_path / "evidence"))
    console = Console(token, password, lambda: redis.Redis.from_url(redis_url), KEYS)
    return TestClient(create_app(store, evidence, None, token=token, console=console)), evidence


def stored(store, evidence, event):
    store.write_events([(event, evidence.put(event, b"\xff\xd8crop", b"\xff\xd8frame"))])
    return event


def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def crop_url(event):
    return "/api/events/%s/crop.jpg" % urllib.parse.quote(event["id"], safe="")


def test_every_page_renders_and_escapes_what_it_shows(store, tmp_path, redis_url):
    client, evidence = make_client(store, tmp_path, redis_url)
    evil = stored(store, evidence, make_event("ABC1234", camera='<script>alert(1)</script>'))
    for path in ("/", "/search", "/search?plate=ABC1234", "/known", "/fleet",
                 "/event/" + urllib.parse.quote(evil["id"], safe="")):
        answer = client.get(path)
        assert answer.status_code in (200, 503), path  # /fleet: no fleet reader here
        assert "<script>alert(1)" not in answer.text, path
        assert answer.headers["content-type"].startswith("text/html")
        assert 'name="viewport"' in answer.text and "frame-ancestors 'none'" in \
            answer.headers["content-security-policy"]
    found = client.get("/search?plate=A8C1234").text  # B -> 8
    assert 'data-plate="ABC1234"' in found and "&lt;script&gt;alert(1)&lt;/script&gt;" in found
    assert client.get("/static/console.js").headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("path, status", [
    ("/search?limit=0", 422), ("/search?limit=abc", 422), ("/search?plate=" + "A" * 40, 422),
    ("/search?since=yesterday-ish", 400), ("/search?since=2h&until=3h", 400),
    ("/search?plate=%21%21", 400), ("/search?label=maybe", 400),
    ("/stream?events=bad", 400), ("/stream?alerts=1-2-3", 400),
    ("/event/" + "x" * 500, 400), ("/event/a%00b", 400), ("/event/nope", 404),
    ("/static/..%2Fauth.py", 404), ("/static/nothing.js", 404),
])
def test_a_malformed_query_gets_a_4xx(lite, tmp_path, redis_url, path, status):
    client, _ = make_client(lite, tmp_path, redis_url)
    assert client.get(path).status_code == status


def test_every_post_needs_the_session_csrf_token(store, tmp_path, redis_url, redis_client):
    client, _ = make_client(store, tmp_path, redis_url)
    token = csrf_of(client.get("/known").text)
    form = {"plate": "XYZ987", "label": "deny", "note": "n"}
    assert client.post("/known", data=form).status_code == 403
    assert client.post("/known", data=dict(form, csrf="forged")).status_code == 403
    assert client.post("/known", content=json.dumps(dict(form, csrf=token)),
                       headers={"content-type": "application/json"}).status_code == 415
    assert store.known_plates() == []
    done = client.post("/known", data=dict(form, csrf=token), follow_redirects=False)
    assert done.status_code == 303 and store.known_plate("XYZ987")["label"] == "deny"
    # another browser (no cookie of this session) cannot use this session's token
    other = TestClient(client.app)
    assert other.post("/known/delete", data={"plate": "XYZ987", "csrf": token}).status_code \
        == 403
    assert client.post("/fleet/drain", data={"node": "n1"}).status_code == 403
    assert client.post("/fleet/drain", data={"node": "n1", "csrf": token},
                       follow_redirects=False).status_code == 303
    assert redis_client.sismember(KEYS.drained(), "n1")
    assert client.post("/fleet/drain", data={"node": "bad node!", "csrf": token}).status_code \
        == 400


def test_known_plates_csv_round_trip_and_refusals(store, tmp_path, redis_url):
    client, _ = make_client(store, tmp_path, redis_url)
    token = csrf_of(client.get("/known").text)
    bad = client.post("/known/import", data={"csv": "AAA111,allow\nBBB222,maybe\n",
                                             "csrf": token})
    assert bad.status_code == 400 and "line 2" in bad.text and store.known_plates() == []
    text = "plate,label,note\nabc-123,allow,staff\nXYZ999,deny,=HYPERLINK(1)\n"
    assert client.post("/known/import", data={"csv": text, "csrf": token},
                       follow_redirects=False).status_code == 303
    assert [p["plate"] for p in store.known_plates()] == ["ABC123", "XYZ999"]
    exported = client.get("/known.csv")
    assert exported.headers["content-disposition"].startswith("attachment")
    assert exported.text == "plate,label,note\nABC123,allow,staff\nXYZ999,deny,'=HYPERLINK(1)\n"
    assert client.post("/known", data={"plate": "Q" * 40, "label": "allow", "csrf": token}
                       ).status_code == 400
    assert client.post("/known", data={"plate": "QQQ1", "label": "vip", "csrf": token}
                       ).status_code == 400
    assert client.post("/known/delete", data={"plate": "ABC123", "csrf": token},
                       follow_redirects=False).status_code == 303
    assert client.post("/known/delete", data={"plate": "ABC123", "csrf": token}
                       ).status_code == 404


def test_login_sessions_and_evidence_when_a_login_is_configured(store, tmp_path, redis_url):
    client, evidence = make_client(store, tmp_path, redis_url, token="tok", password="pw")
    event = stored(store, evidence, make_event("LGN1234"))
    first = client.get("/search?plate=LGN1234", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Fsearch%3Fplate%3DLGN1234"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert client.get(crop_url(event)).status_code == 401  # no evidence without a login
    assert client.get("/stream").status_code == 401
    assert client.post("/known", data={"plate": "A1"}).status_code == 401
    anonymous = client.cookies.get("alpr_session")
    login = client.get("/login?next=/search%3Fplate%3DLGN1234")
    token = csrf_of(login.text)
    wrong = client.post("/login", data={"secret": "nope", "csrf": token, "next": "/"})
    assert wrong.status_code == 401 and "Wrong token or password" in wrong.text
    assert client.post("/login", data={"secret": "pw"}).status_code == 403  # no CSRF token
    ok = client.post("/login", data={"secret": "pw", "csrf": token,
                                     "next": "/search?plate=LGN1234"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/search?plate=LGN1234"
    assert client.cookies.get("alpr_session") != anonymous  # a new id after the login
    assert 'data-plate="LGN1234"' in client.get("/search?plate=LGN1234").text
    assert client.get(crop_url(event)).status_code == 200
    # the session reads the API; it does not write it (that takes the token)
    assert client.get("/api/events").status_code == 200
    assert client.post("/api/known-plates", json={"plate": "A1", "label": "allow"}
                       ).status_code == 401
    assert client.post("/api/known-plates", json={"plate": "A1", "label": "allow"},
                       headers={"X-API-Token": "tok"}).status_code == 201
    # the token logs in too; an off-site `next` lands on /
    other = TestClient(client.app)
    token2 = csrf_of(other.get("/login").text)
    away = other.post("/login", data={"secret": "tok", "csrf": token2, "next": "//evil.example"},
                      follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/"
    logout_token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": logout_token},
                       follow_redirects=False).status_code == 303
    assert client.get(crop_url(event)).status_code == 401


def test_without_a_login_configured_the_api_still_answers_as_before(lite, tmp_path, redis_url):
    client, evidence = make_client(lite, tmp_path, redis_url)
    event = stored(lite, evidence, make_event("OPN1234"))
    assert client.get(crop_url(event)).status_code == 200
    assert client.get("/api/events?plate=OPN1234").json()["count"] == 1


def test_positions_come_from_the_page_or_the_last_event_id():
    assert parse_positions("5-0", "", "") == {"event": "5-0", "alert": None}
    assert parse_positions("5-0", "1-0", "e=9-1,a=7-0") == {"event": "9-1", "alert": "7-0"}
    with pytest.raises(Exception):
        parse_positions("", "", "e=9-1; DROP")


def _sse(client, path, want, timeout=5.0):
    """SSE messages of `path` until `want(messages)` holds (each: {event, id, data})."""
    messages, current = [], {}
    deadline = time.time() + timeout
    with client.stream("GET", path) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                messages.append(current)
                current = {}
                if want(messages):
                    return messages
            assert time.time() < deadline, messages
    return messages


def test_the_stream_replays_from_the_page_position_and_skips_malformed_entries(
        lite, tmp_path, redis_url, redis_client):
    client, evidence = make_client(lite, tmp_path, redis_url)
    seen = stored(lite, evidence, make_event("OLD1111"))
    first = redis_client.xadd(KEYS.events, {"event": json.dumps(seen)}).decode()
    redis_client.xadd(KEYS.events, {"event": "{not json"})  # a bad writer: skipped
    new = stored(lite, evidence, make_event("NEW2222", label="deny"))
    redis_client.xadd(KEYS.events, {"event": json.dumps(new)})
    redis_client.xadd(KEYS.alerts, {"json": json.dumps({
        "rule": "r1", "plate": "NEW2222", "camera": "cam0", "event_id": new["id"],
        "label": "deny", "at": time.time(), "message": "denied"})})
    got = _sse(client, "/stream?events=%s&alerts=0-0" % first,
               lambda ms: any(m.get("event") == "alert" for m in ms)
               and any(m.get("event") == "event" for m in ms))
    events = [m["data"] for m in got if m.get("event") == "event"]
    assert [e["plate"] for e in events] == ["NEW2222"]  # after the page's position only
    assert events[0]["crop"] == crop_url(new) and events[0]["label"] == "deny"
    assert "/evidence/" not in json.dumps(events)  # URLs, never file paths
    assert [m["data"]["rule"] for m in got if m.get("event") == "alert"] == ["r1"]
    assert got[-1]["id"].startswith("a=") and ",e=" in got[-1]["id"]
    assert client.app.state.console.hub.stats["malformed"] >= 1


def test_the_stream_pushes_new_entries_as_they_are_written(lite, tmp_path, redis_url,
                                                          redis_client):
    import threading

    client, evidence = make_client(lite, tmp_path, redis_url)
    live = stored(lite, evidence, make_event("LIV3333"))

    def later():
        time.sleep(0.5)  # the page is connected and waiting by now
        redis_client.xadd(KEYS.events, {"event": json.dumps(live)})

    threading.Thread(target=later, daemon=True).start()
    got = _sse(client, "/stream", lambda ms: any(m.get("event") == "event" for m in ms))
    assert [m["data"]["plate"] for m in got if m.get("event") == "event"] == ["LIV3333"]
    hub = client.app.state.console.hub
    deadline = time.time() + 5
    while hub.clients or (hub.thread is not None and hub.thread.is_alive()):
        assert time.time() < deadline, "a closed page stays subscribed (or the reader runs on)"
        time.sleep(0.05)


def test_the_login_page_is_skipped_when_no_login_is_configured(lite, tmp_path, redis_url):
    client, _ = make_client(lite, tmp_path, redis_url)
    answer = client.get("/login?next=/fleet", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/fleet"


def test_fleet_page_reads_what_alpr_status_reads(lite, tmp_path, redis_url, redis_client):
    from alpr.settings import Settings
    from api.cli import fleet_reader
    from worker.heartbeat import Heartbeat

    Heartbeat(redis_client, KEYS, "nano-7", lambda: {"engine": "pipeline", "fps": "6.10",
                                                     "p50_ms": "140.2"},
              on_drained=lambda drained: None).beat()
    redis_client.hset(KEYS.security, "refused_payload", 3)
    evidence = EvidenceDir(str(tmp_path / "evidence"))
    console = Console("", "", lambda: redis.Redis.from_url(redis_url), KEYS)
    reader = fleet_reader(Settings().with_values({"redis_url": redis_url}))
    client = TestClient(create_app(lite, evidence, reader, console=console))
    page = client.get("/fleet")
    assert page.status_code == 200
    assert "nano-7" in page.text and "6.1" in page.text and "pipeline" in page.text
    assert 'action="/fleet/drain"' in page.text and "refused_payload=3" in page.text


def test_a_read_crop_is_served_from_redis_while_its_frame_lives(lite, tmp_path, redis_url,
                                                              redis_client):
    from alpr.frame_store import FrameStore
    from console_helpers import finish_frame

    frames = FrameStore(redis_client, KEYS, results_maxlen=1000, max_age_s=30.0)
    frame_id = finish_frame(frames, "cam0", "RDC1234")
    client, _ = make_client(lite, tmp_path, redis_url)
    crop = client.get("/live/crop/%s/0.jpg" % frame_id)
    assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8"
    assert client.get("/live/crop/%s/1.jpg" % frame_id).status_code == 404  # one read only
    assert client.get("/live/crop/nosuchframe/0.jpg").status_code == 404
    assert client.get("/live/crop/bad%20id/0.jpg").status_code == 400
    assert client.get("/live/crop/%s/99.jpg" % frame_id).status_code == 400
    redis_client.delete(KEYS.evidence(frame_id))  # past the frame's max age
    assert client.get("/live/crop/%s/0.jpg" % frame_id).status_code == 404
    locked, _ = make_client(lite, tmp_path, redis_url, password="pw")
    assert locked.get("/live/crop/%s/0.jpg" % frame_id, follow_redirects=False).status_code \
        == 303  # no evidence without a login


def test_a_flood_of_anonymous_sessions_does_not_log_an_operator_out():
    from api.console.auth import Sessions

    sessions = Sessions(max_sessions=3)
    operator = sessions.new(authed=True)
    for _ in range(50):
        sessions.new(authed=False)
    assert sessions.get(operator.sid) is operator and len(sessions.by_id) == 3


def test_an_event_page_lists_the_alerts_its_rules_fired(store, tmp_path, redis_url):
    from store.alerts import AlertStore

    client, evidence = make_client(store, tmp_path, redis_url)
    event = make_event("BAD6666", camera="gate", label="deny")
    stored(store, evidence, event)
    page = client.get("/event/" + urllib.parse.quote(event["id"], safe="")).text
    assert "<h2>Alerts</h2>" not in page
    AlertStore(store.db).write([{"rule": "denied-car", "plate": "BAD6666", "camera": "gate",
                                 "event_id": event["id"], "label": "deny",
                                 "at": event["emitted"], "message": "denied car <at> the gate"}])
    page = client.get("/event/" + urllib.parse.quote(event["id"], safe="")).text
    assert "<h2>Alerts</h2>" in page and "denied-car" in page
    assert "denied car &lt;at&gt; the gate" in page  # escaped like every value
