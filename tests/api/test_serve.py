"""`alpr serve` as a real process on uvicorn: loopback by default, a token elsewhere."""
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

from redis_server import free_port
from testenv import subprocess_env


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_on_loopback_and_refuses_an_open_bind_without_token(tmp_path, redis_url):
    db = "sqlite:///%s" % (tmp_path / "events.db")
    refused = subprocess.run([sys.executable, "-m", "alpr", "serve", "--db", db, "--host",
                              "0.0.0.0", "--port", str(free_port())], env=subprocess_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert refused.returncode != 0 and b"--token" in refused.stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "alpr", "serve", "--db", db, "--redis-url",
                             redis_url, "--port", str(port), "--token", "tok"],
                            env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        base = "http://127.0.0.1:%d" % port
        deadline = time.time() + 30
        while True:
            try:
                status, body = _get(base + "/api/health")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert status == 200 and body["ok"] is True and body["events"] == 0
        assert _get(base + "/api/events")[0] == 401
        status, fleet = _get(base + "/api/fleet", {"X-API-Token": "tok"})
        assert status == 200 and "nodes" in fleet
    finally:
        proc.terminate()
        proc.wait(20)
