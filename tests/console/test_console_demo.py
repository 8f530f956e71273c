"""Acceptance: `alpr demo` starts the web console, prints its URL, and the demo's plates
reach the console's live stream (real workers with the default models, real scenes)."""
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request

from testenv import ROOT, subprocess_env


def _follow(url, events, stop):
    """Read the console's SSE from the start of the events stream (events=0-0)."""
    deadline = time.time() + 60
    while not stop.is_set() and time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "stream?events=0-0", timeout=5) as answer:
                kind = ""
                for raw in answer:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "event":
                        events.append(json.loads(line[6:]))
                    if stop.is_set():
                        return
        except OSError:  # not listening yet, or the demo ended
            time.sleep(0.2)


def test_demo_prints_the_console_url_and_its_plates_stream_live():
    proc = subprocess.Popen([sys.executable, "-m", "alpr", "demo", "--json", "--workers", "1",
                             "--frames", "6", "--fps", "4"], cwd=ROOT, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    events, stop, url = [], threading.Event(), None
    reader = None
    try:
        for raw in proc.stderr:
            found = re.search(r"web console: (http://127\.0\.0\.1:\d+/)", raw.decode())
            if found:
                url = found.group(1)
                reader = threading.Thread(target=_follow, args=(url, events, stop), daemon=True)
                reader.start()
                break
        assert url, "the demo printed no console URL"
        out, err = proc.communicate(timeout=300)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    streamed = set(e["plate"] for e in events)
    assert summary["plates"] and streamed == set(summary["plates"])
    assert all(e["crop"].startswith("/api/events/") for e in events if e.get("crop"))
