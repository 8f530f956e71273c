"""A throwaway redis-server on a free loopback port: the one the demo, the benches and the tests start.

No persistence unless ``extra_args`` asks for it, its own data folder, never left running:
``cleanup()`` (or leaving the ``with`` block) stops it (SIGTERM, SIGKILL after a timeout)
and removes the folder. ``restart()`` keeps the port (and an AOF file, if enabled).
"""
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, List, Optional

from bench.procs import free_port, read_cpu_s

READY_TIMEOUT_S = 10.0  # a local redis-server answers PING within milliseconds; 10 s = it failed
STOP_TIMEOUT_S = 10.0  # SIGTERM -> exit (no persistence: no save on shutdown), else SIGKILL


class RedisServer(object):
    """One redis-server process; ``log_path`` keeps its log (else it is discarded)."""

    def __init__(self, extra_args: Optional[List[str]] = None, port: Optional[int] = None,
                 log_path: Optional[str] = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (e.g. apt-get install redis-server; "
                               "make test and make demo install it)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="alpr-redis-")
        self.extra_args = list(extra_args or [])
        self.log_path = log_path
        self.proc = None  # type: Optional[subprocess.Popen]

    @property
    def url(self) -> str:
        return "redis://127.0.0.1:%d/0" % self.port

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def start(self) -> "RedisServer":
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"] + self.extra_args
        if self.log_path:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
        else:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s" % self._exit_reason())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop(kill=True)
        raise RuntimeError("redis-server did not answer on port %d within %.0f s"
                           % (self.port, timeout))

    def _exit_reason(self) -> str:
        if self.log_path:
            return "see %s" % self.log_path
        stderr = self.proc.stderr.read() if self.proc is not None and self.proc.stderr else b""
        return stderr.decode("utf-8", "replace").strip() or "no output"

    def cpu_s(self) -> float:
        """CPU seconds the server has used (the benches' Redis cost)."""
        return read_cpu_s(self.proc.pid) if self.proc is not None else 0.0

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def cleanup(self) -> None:
        """Stop the server (SIGKILL: nothing to save) and remove its folder."""
        self.stop(kill=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_answers(url: str) -> bool:
    """True if a Redis server answers PING at ``url`` within a second."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False
