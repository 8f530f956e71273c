"""Acceptance: `alpr demo --json` stores its events with crops in SQLite, and `alpr events
search` with one look-alike character swapped finds the same event, crop on disk."""
import json
import subprocess
import sys

import pytest

from testenv import subprocess_env

SWAPS = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S",
         "Z": "2", "2": "Z", "G": "6", "6": "G", "D": "0", "Q": "0"}


def _last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def test_demo_stores_events_with_crops_and_a_look_alike_search_finds_them(tmp_path):
    pytest.importorskip("onnxruntime")
    demo = subprocess.run([sys.executable, "-m", "alpr", "demo", "--json", "--workers", "1",
                           "--frames", "6", "--repeat", "3", "--data-dir", str(tmp_path)],
                          env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=400)
    assert demo.returncode == 0, demo.stderr.decode()[-3000:]
    summary = _last_json(demo.stdout.decode())
    assert summary["store"] == "sqlite:///" + str(tmp_path / "events.db")
    assert summary["events_stored"] == summary["events"] >= 1
    assert summary["events_with_crop"] == summary["events_stored"]
    assert summary["plates"]
    plate = summary["plates"][0]
    spots = [i for i, c in enumerate(plate) if c in SWAPS]
    query = plate[:spots[0]] + SWAPS[plate[spots[0]]] + plate[spots[0] + 1:] if spots \
        else plate
    found = subprocess.run([sys.executable, "-m", "alpr", "events", "search", query, "--db",
                            summary["store"], "--json"], env=subprocess_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert found.returncode == 0, found.stderr.decode()
    events = _last_json(found.stdout.decode())["events"]
    assert events[0]["plate"] == plate, (query, events)
    assert events[0]["crop"] and events[0]["frame"]  # locations in the evidence packs
    for kind in ("--crop", "--frame"):  # read back as a user would
        out = str(tmp_path / ("picture%s.jpg" % kind))
        got = subprocess.run([sys.executable, "-m", "alpr", "events", "picture",
                              events[0]["id"], kind, "--db", summary["store"], "-o", out,
                              "--evidence-dir", str(tmp_path / "evidence")],
                             env=subprocess_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60)
        assert got.returncode == 0, got.stderr.decode()
        with open(out, "rb") as fh:
            assert fh.read(2) == b"\xff\xd8"  # a JPEG
