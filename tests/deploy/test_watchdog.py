"""deploy/alpr-watchdog against a real redis-server and a real sd_notify socket."""
import os
import socket
import subprocess
import sys
import time

from testenv import ROOT, subprocess_env

WATCHDOG = os.path.join(ROOT, "deploy", "alpr-watchdog")


def _env(redis_url, **extra):
    return subprocess_env(ALPR_REDIS_URL=redis_url, ALPR_NODE_NAME="nano-7", ALPR_HOME=ROOT, **extra)


def test_check_follows_the_heartbeat_key(redis_url, redis_client):
    cmd = [sys.executable, WATCHDOG, "check"]
    assert subprocess.call(cmd, env=_env(redis_url)) == 1
    redis_client.set("alpr:node:nano-7:alive", "1", px=5000)
    assert subprocess.call(cmd, env=_env(redis_url)) == 0
    other_ns = _env(redis_url, ALPR_NAMESPACE="site2:")
    assert subprocess.call(cmd, env=other_ns) == 1


def _notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    return sock, path


def _drain(sock):
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            return got


# a stand-in worker that touches its progress file (ALPR_PROGRESS_FILE) for `touch_s`,
# then idles (stuck) until `end_s`, then exits with `code`
TOUCHER = ("import os, sys, time\n"
           "p = os.environ['ALPR_PROGRESS_FILE']; t0 = time.time()\n"
           "while time.time() - t0 < {touch_s}:\n"
           "    open(p, 'a').close(); os.utime(p, None); time.sleep(0.05)\n"
           "time.sleep(max(0, {end_s} - (time.time() - t0))); sys.exit({code})\n")


def _run(env, touch_s, end_s, code=0, fresh="0.3"):
    return subprocess.Popen([sys.executable, WATCHDOG, "--period", "0.1", "--fresh", fresh, "run",
                             "--", sys.executable, "-c",
                             TOUCHER.format(touch_s=touch_s, end_s=end_s, code=code)], env=env)


def test_run_pings_systemd_while_alive_and_returns_the_workers_code(redis_url, redis_client,
                                                                     tmp_path):
    sock, path = _notify_socket(tmp_path)
    proc = _run(_env(redis_url, NOTIFY_SOCKET=path), touch_s=1.0, end_s=1.0, code=3)
    messages = []
    while proc.poll() is None:  # read while it runs: a unix datagram queue holds few messages
        messages += _drain(sock)
    messages += _drain(sock)
    sock.close()
    assert proc.returncode == 3
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 3
    assert messages[-1] == "STATUS=worker exited with 3"


def test_run_keeps_pinging_while_redis_is_down(tmp_path):
    """Liveness is the engine's progress, not Redis: with Redis unreachable a worker that
    makes progress is not restarted (before: no alive key -> no pings -> every worker
    restarted in a loop for the whole outage)."""
    from redis_server import free_port

    sock, path = _notify_socket(tmp_path)
    env = _env("redis://127.0.0.1:%d/0" % free_port(), NOTIFY_SOCKET=path)
    proc = _run(env, touch_s=1.0, end_s=1.0)
    messages = []
    while proc.poll() is None:
        messages += _drain(sock)
    messages += _drain(sock)
    sock.close()
    assert messages[0].startswith("READY=1") and messages.count("WATCHDOG=1") >= 5


def test_run_stops_pinging_when_progress_stops(redis_url, redis_client, tmp_path):
    """A worker that heartbeats in Redis but makes no progress gets no pings once its last
    touch is older than --fresh."""
    sock, path = _notify_socket(tmp_path)
    redis_client.set("alpr:node:nano-7:alive", "1", px=10000)
    proc = _run(_env(redis_url, NOTIFY_SOCKET=path), touch_s=0.5, end_s=2.0)
    messages = []
    while proc.poll() is None:
        messages += [(time.time(), m) for m in _drain(sock)]
    sock.close()
    pings = [t for t, m in messages if m == "WATCHDOG=1"]
    assert pings and messages[-1][0] - pings[-1] > 0.8, "pings went on without progress"


def test_run_sends_no_watchdog_ping_without_heartbeat(redis_url, tmp_path):
    sock, path = _notify_socket(tmp_path)
    proc = _run(_env(redis_url, NOTIFY_SOCKET=path), touch_s=0, end_s=0.6)
    messages = []
    while proc.poll() is None:
        messages += _drain(sock)
    messages += _drain(sock)
    sock.close()
    assert proc.returncode == 0
    assert "WATCHDOG=1" not in messages and not any(m.startswith("READY") for m in messages)
