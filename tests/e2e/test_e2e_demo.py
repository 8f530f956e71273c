"""`alpr demo` as a user runs it: one command, a JSON summary, and no process left behind."""
import json
import os
import subprocess
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KEYS = ("produced", "read", "stale", "dropped", "failed", "in_flight", "exact_rate", "events")


def processes_with_marker(marker):
    """PIDs whose environment carries `marker` (children inherit it, orphans too)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def run_demo(args, marker, timeout=300):
    env = dict(os.environ, ALPR_DEMO_TEST_MARK=marker, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "alpr", "demo", "--json"] + args, cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def test_demo_own_redis_json_summary_and_clean_exit():
    marker = uuid.uuid4().hex
    code, out, err = run_demo(["--engine", "null", "--workers", "1", "--frames", "12",
                               "--fps", "0"], marker)
    assert code == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert all(k in summary for k in KEYS), summary
    assert summary["produced"] == 12 and summary["in_flight"] == 0 and summary["invariant_ok"]
    assert summary["read"] + summary["stale"] + summary["dropped"] + summary["failed"] == 12
    assert "started redis-server" in err
    assert processes_with_marker(marker) == [], "the demo left processes behind"


def test_demo_reuses_a_redis_that_answers(redis_url, redis_client):
    marker = uuid.uuid4().hex
    code, out, err = run_demo(["--redis-url", redis_url, "--engine", "null", "--workers", "1",
                               "--frames", "6", "--fps", "0", "--namespace", "demo-t:"], marker)
    assert code == 0, err[-3000:]
    assert "reusing Redis" in err
    assert json.loads(out.strip().splitlines()[-1])["produced"] == 6
    assert int(redis_client.hget("demo-t:count:cam1", "produced")) == 6
    assert redis_client.ping()  # the reused server is left running
    assert processes_with_marker(marker) == []
