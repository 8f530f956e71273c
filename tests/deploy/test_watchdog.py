"""deploy/alpr-watchdog against a real redis-server and a real sd_notify socket."""
import os
import socket
import subprocess
import sys

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


def test_run_pings_systemd_while_alive_and_returns_the_workers_code(redis_url, redis_client,
                                                                     tmp_path):
    sock, path = _notify_socket(tmp_path)
    redis_client.set("alpr:node:nano-7:alive", "1", px=10000)
    worker = "import time, sys; time.sleep(1.0); sys.exit(3)"
    proc = subprocess.Popen([sys.executable, WATCHDOG, "--period", "0.1", "run", "--",
                             sys.executable, "-c", worker], env=_env(redis_url, NOTIFY_SOCKET=path))
    messages = []
    while proc.poll() is None:  # read while it runs: a unix datagram queue holds few messages
        messages += _drain(sock)
    messages += _drain(sock)
    sock.close()
    assert proc.returncode == 3
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 3
    assert messages[-1] == "STATUS=worker exited with 3"


def test_run_sends_no_watchdog_ping_without_heartbeat(redis_url, tmp_path):
    sock, path = _notify_socket(tmp_path)
    proc = subprocess.Popen([sys.executable, WATCHDOG, "--period", "0.1", "run", "--",
                             sys.executable, "-c", "import time; time.sleep(0.6)"],
                            env=_env(redis_url, NOTIFY_SOCKET=path))
    messages = []
    while proc.poll() is None:
        messages += _drain(sock)
    messages += _drain(sock)
    sock.close()
    assert proc.returncode == 0
    assert "WATCHDOG=1" not in messages and not any(m.startswith("READY") for m in messages)
