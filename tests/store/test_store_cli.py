"""`alpr events search` / `show` through click's CliRunner on a real store (both backends)."""
import json

from click.testing import CliRunner

from alpr.cli import main
from event_helpers import make_event


def test_search_json_finds_a_look_alike_and_show_prints_the_event(event_store, db_url):
    crop = "/evidence/2026-12-01/cam0%3Af1/crop.jpg"
    event = make_event("ABC1234", first_seen=1000.0)
    event_store.write_events([(event, {"crop": crop, "frame": None, "bytes": 10}),
                              (make_event("ZZZ0000", first_seen=2000.0), None)])
    runner = CliRunner()
    out = runner.invoke(main, ["events", "search", "A8C1234", "--db", db_url, "--json"])
    assert out.exit_code == 0, out.output
    found = json.loads(out.output.strip().splitlines()[-1])
    assert [e["plate"] for e in found["events"]] == ["ABC1234"]
    assert found["events"][0]["crop"] == crop and found["events"][0]["id"] == event["id"]
    text = runner.invoke(main, ["events", "search", "--db", db_url, "--since", "1500",
                                "--until", "2026-01-01"])
    assert text.exit_code == 0 and "ZZZ0000" in text.output and "ABC1234" not in text.output
    shown = runner.invoke(main, ["events", "show", event["id"], "--db", db_url, "--json"])
    assert json.loads(shown.output)["stored_reads"][0]["text"] == "ABC1234"
    missing = runner.invoke(main, ["events", "show", "cam0:nope", "--db", db_url])
    assert missing.exit_code != 0 and "no event" in missing.output
    bad = runner.invoke(main, ["events", "search", "X", "--db", db_url, "--since", "yesterday"])
    assert bad.exit_code != 0 and "cannot read time" in bad.output


def test_dispatch_with_a_bad_db_url_says_why(redis_url):
    out = CliRunner().invoke(main, ["dispatch", "--redis-url", redis_url, "--db",
                                    "mysql://user:secret@db/alpr"])
    assert out.exit_code != 0 and "unsupported database URL" in out.output
    assert "secret" not in out.output
