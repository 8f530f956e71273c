"""A real redis-server on a free loopback port, started and stopped by the tests.

Never a mock: every test that needs Redis talks to this process.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer(object):
    """One redis-server process; `restart()` keeps its port (and AOF file, if enabled)."""

    def __init__(self, extra_args: Optional[List[str]] = None, port: Optional[int] = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it with apt)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="alpr-redis-")
        self.extra_args = list(extra_args or [])
        self.proc = None  # type: Optional[subprocess.Popen]

    @property
    def url(self) -> str:
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self) -> "RedisServer":
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--dir", self.dir, "--daemonize", "no",
                "--loglevel", "warning"] + self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s" % self.proc.stderr.read().decode())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer on port %d" % self.port)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def cleanup(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_tls_server(cert_dir: str, password: str):
    """(RedisServer, TLS port) with TLS, client certificates and a password, the certificates
    already in `cert_dir` (server.crt/.key, ca.crt); pytest.skip if this redis-server has no TLS."""
    import pytest

    port = free_port()
    server = RedisServer(port=free_port(), extra_args=[
        "--tls-port", str(port), "--tls-cert-file", os.path.join(cert_dir, "server.crt"),
        "--tls-key-file", os.path.join(cert_dir, "server.key"),
        "--tls-ca-cert-file", os.path.join(cert_dir, "ca.crt"),
        "--tls-auth-clients", "yes", "--requirepass", password])
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip("redis-server without TLS support: %s" % exc)
    return server, port
