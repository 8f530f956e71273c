"""A real mosquitto broker on a free loopback port, with a password file (and optionally a
TLS listener), started and stopped by the tests; and a subscriber that records what it hears.

Never a mock: the MQTT tests talk to this process (Debian's mosquitto; `make mosquitto`).
"""
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

from redis_server import free_port

USER, PASSWORD = "alpr", "mqtt-s3cret"


def mosquitto_binary() -> Optional[str]:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def make_server_cert(directory: str) -> None:
    """A throwaway CA (ca.crt) and a server certificate for 127.0.0.1 (server.crt/.key)."""
    def run(*args: str) -> None:
        subprocess.check_call(["openssl"] + list(args), cwd=directory,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(directory, "san.ext"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.crt")
    os.chmod(os.path.join(directory, "server.key"), 0o644)


class MosquittoServer(object):
    """One mosquitto process; `restart()` keeps its port (retained messages are not persisted)."""

    def __init__(self, tls_dir: Optional[str] = None, port: int = 0) -> None:
        binary = mosquitto_binary()
        if binary is None or shutil.which("mosquitto_passwd") is None:
            raise RuntimeError("mosquitto is not installed (make test installs it: make mosquitto)")
        self.binary = binary
        self.port = port or free_port()
        self.tls_port = free_port() if tls_dir else 0
        self.dir = tempfile.mkdtemp(prefix="alpr-mosquitto-")
        self.proc = None  # type: Optional[subprocess.Popen]
        passwd = os.path.join(self.dir, "passwd")
        subprocess.check_call(["mosquitto_passwd", "-b", "-c", passwd, USER, PASSWORD],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # run as whoever runs the tests (as root, mosquitto would switch to its own user,
        # who cannot read this temporary directory)
        lines = ["user %s" % getpass.getuser(), "per_listener_settings false", "allow_anonymous false",
                 "password_file %s" % passwd, "persistence false",
                 "listener %d 127.0.0.1" % self.port]
        if tls_dir:
            lines += ["listener %d 127.0.0.1" % self.tls_port,
                      "cafile %s" % os.path.join(tls_dir, "ca.crt"),
                      "certfile %s" % os.path.join(tls_dir, "server.crt"),
                      "keyfile %s" % os.path.join(tls_dir, "server.key")]
        self.config = os.path.join(self.dir, "mosquitto.conf")
        with open(self.config, "w") as fh:
            fh.write("\n".join(lines) + "\n")

    def url(self, password: str = PASSWORD) -> str:
        return "mqtt://%s:%s@127.0.0.1:%d" % (USER, password, self.port)

    def start(self) -> "MosquittoServer":
        self.proc = subprocess.Popen([self.binary, "-c", self.config],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: %s" % self.proc.stderr.read().decode())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen on port %d" % self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Recorder(object):
    """A paho subscriber that keeps every message it gets: (topic, payload text, retain)."""

    def __init__(self, port: int, topics: List[str], password: str = PASSWORD) -> None:
        import paho.mqtt.client as mqtt

        self.messages = []  # type: List[Dict[str, Any]]
        self.lock = threading.Lock()
        self.topics = topics
        self.ready = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.username_pw_set(USER, password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.pending = set()  # type: set
        self.client = client
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        assert self.ready.wait(10), "the test subscriber did not connect"

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        for topic in self.topics:
            _rc, mid = client.subscribe(topic, qos=1)
            with self.lock:
                self.pending.add(mid)

    def _on_subscribe(self, _client: Any, _u: Any, mid: int, _codes: Any, _p: Any = None) -> None:
        with self.lock:  # ready once the broker confirmed every subscription (SUBACK)
            self.pending.discard(mid)
            if not self.pending:
                self.ready.set()

    def _on_message(self, _client: Any, _u: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append({"topic": msg.topic, "payload": msg.payload.decode("utf-8"),
                                  "retain": bool(msg.retain), "at": time.time()})

    def on(self, topic: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m["topic"] == topic]

    def wait(self, predicate: Any, timeout: float = 20.0) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(port: int, topic: str, timeout: float = 5.0) -> Optional[str]:
    """The retained payload of `topic` as a fresh subscriber gets it (None if nothing is retained)."""
    rec = Recorder(port, [topic])
    try:
        rec.wait(lambda: rec.on(topic), timeout)
        got = [m for m in rec.on(topic) if m["retain"]]
        return got[-1]["payload"] if got else None
    finally:
        rec.close()
