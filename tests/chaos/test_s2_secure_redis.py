"""S2: Redis with an ACL user and TLS (self-signed certs made here with openssl); no secrets in logs.

The server's default user is off; only `alpr` with a password may connect, and only over TLS
(the plain port needs auth too). Producer, worker, dispatcher and `alpr status` all use a
rediss://alpr:PASSWORD@... URL; wrong credentials fail with a clear message; the password
never appears in any process's output (logs run at DEBUG).
"""
import shutil
import socket
import ssl
import subprocess
import time

import pytest
import redis

from alpr.keys import Keys
from bench.procs import ROOT, free_port, wait_until
from chaos_helpers import FleetRun, figures
from redis_server import RedisServer

PASSWORD = "s2-Pa55-w0rd-xyzzy"  # unusual enough that a grep finds only real leaks


def make_certs(folder):
    """A self-signed certificate for 127.0.0.1 (IP SAN), used as its own CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: cannot make test certificates")
    cert, key = str(folder / "redis.crt"), str(folder / "redis.key")
    subprocess.check_call(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class TlsRedisServer(RedisServer):
    """redis-server with a TLS port and ACL users; readiness is checked over TLS."""

    def __init__(self, cert, key):
        self.tls_port = free_port()
        self.cert = cert
        super().__init__(extra_args=[
            "--tls-port", str(self.tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
            "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
            "--user", "default", "off",  # separate words: redis joins them into one config line
            "--user", "alpr", "on", ">" + PASSWORD, "~*", "&*", "+@all"])

    def _wait_ready(self, timeout=10.0):
        ctx = ssl.create_default_context(cafile=self.cert)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s" % self.proc.stderr.read().decode())
            try:
                with socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                        sock.sendall(b"PING\r\n")
                        if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                            return
            except (OSError, ssl.SSLError):
                pass
            time.sleep(0.05)
        raise RuntimeError("TLS redis-server did not answer on port %d" % self.tls_port)

    def tls_url(self, user="alpr", password=PASSWORD):
        return "rediss://%s:%s@127.0.0.1:%d/0" % (user, password, self.tls_port)


@pytest.fixture
def tls_server(tmp_path):
    cert, key = make_certs(tmp_path)
    server = TlsRedisServer(cert, key)
    try:
        server.start()
    except RuntimeError as exc:
        server.cleanup()
        pytest.skip("this redis-server cannot serve TLS: %s" % exc)
    yield server
    server.cleanup()


def test_s2_fleet_over_tls_with_acl(tls_server, harness, small_dir):
    env = {"ALPR_REDIS_CA_CERTS": tls_server.cert, "ALPR_LOG_LEVEL": "DEBUG"}
    url = tls_server.tls_url()
    run = FleetRun(url, harness, env=env)
    keys = Keys(run.namespace)
    client = redis.Redis.from_url(url, ssl_ca_certs=tls_server.cert)
    assert client.ping()
    run.worker("s2-w0", "null", "--no-node-queue")
    run.dispatcher()
    wait_until(lambda: client.exists(keys.node_alive("s2-w0")), 60, 0.1, "worker over TLS")
    producer = run.producer("s2-prod", small_dir, "s2cam", 30, 60)
    assert producer.wait(60) == 0, producer.log_tail()
    wait_until(lambda: run.status()["totals"]["in_flight"] == 0, 30, 0.3, "frames over TLS")
    status = run.status()

    # wrong password, unknown user, no TLS: each refused with a clear message, no secret shown
    wrong = []
    for label, bad_url in (
            ("wrong password", tls_server.tls_url(password="not-the-" + PASSWORD)),
            ("unknown user", tls_server.tls_url(user="mallory")),
            ("plain port, no credentials", "redis://127.0.0.1:%d/0" % tls_server.port)):
        argv = [harness.python, "-m", "alpr", "status", "--json", "--redis-url", bad_url]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=dict(harness.env, **env), cwd=ROOT, timeout=60)
        text = proc.stdout.decode("utf-8", "replace")
        wrong.append((label, proc.returncode, text.strip().splitlines()[-1:] if text else []))
        assert proc.returncode != 0, (label, text)
        assert "Traceback" not in text, (label, text)
        assert "credential" in text.lower() or "auth" in text.lower(), (label, text)
        assert PASSWORD not in text, (label, "password leaked")
    bad_worker = harness.spawn("s2-badworker", "worker", "--redis-url",
                               tls_server.tls_url(password="x" + PASSWORD), "--engine", "null",
                               "--node", "s2-bad", **env)
    code = bad_worker.wait(60)
    logs = harness.logs()
    figures("S2", totals=status["totals"], wrong_credentials=wrong, bad_worker_exit=code,
            password_in_logs=logs.count(PASSWORD), log_bytes=len(logs))
    assert status["totals"]["produced"] == 60 and status["totals"]["read"] == 60
    assert code not in (None, 0), "a worker with wrong credentials must stop with an error"
    assert "credential" in bad_worker.log_text().lower()
    assert PASSWORD not in logs, "the Redis password appears in a process log"
