"""A real Redis Sentinel setup on loopback: one primary, one replica, three sentinels.

Every process is a real `redis-server` (`--replicaof`, `--sentinel`); `kill_primary()` is a
SIGKILL, and `wait_failover()` waits until the sentinels name the replica as the primary.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

from redis_server import free_port

SERVICE = "mymaster"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class SentinelCluster(object):
    def __init__(self, down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                 acl: Optional[tuple] = None) -> None:
        self.acl = acl  # (user, password): data nodes refuse anyone else (default user off)
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it with apt)")
        self.dir = tempfile.mkdtemp(prefix="alpr-sentinel-")
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs = {}  # type: dict

    @property
    def url(self) -> str:
        creds = "%s:%s@" % self.acl if self.acl else ""
        return "redis+sentinel://%s%s/%s/0" % (
            creds, ",".join("127.0.0.1:%d" % p for p in self.sentinel_ports), SERVICE)

    def _spawn(self, name: str, args: List[str]) -> None:
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.procs[name] = subprocess.Popen([self.binary] + args, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        log.close()

    def _data_args(self, port: int, name: str) -> List[str]:
        folder = os.path.join(self.dir, name)
        os.makedirs(folder, exist_ok=True)
        args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder,
                "--daemonize", "no", "--loglevel", "warning"]
        if self.acl:
            user, password = self.acl
            args += ["--user", "default", "off", "--user", user, "on", ">" + password, "~*", "&*",
                     "+@all", "--masteruser", user, "--masterauth", password]
        return args

    def start(self, timeout: float = 20.0) -> "SentinelCluster":
        self._spawn("primary", self._data_args(self.primary_port, "primary"))
        self._spawn("replica", self._data_args(self.replica_port, "replica")
                    + ["--replicaof", "127.0.0.1", str(self.primary_port)])
        for i, port in enumerate(self.sentinel_ports):
            conf = os.path.join(self.dir, "sentinel-%d.conf" % i)
            with open(conf, "w") as fh:
                fh.write("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
                         "sentinel monitor %s 127.0.0.1 %d 2\n"
                         "sentinel down-after-milliseconds %s %d\n"
                         "sentinel failover-timeout %s %d\n"
                         "sentinel parallel-syncs %s 1\n"
                         # known at start (else found by INFO polling, up to 10 s later)
                         "sentinel known-replica %s 127.0.0.1 %d\n" % (
                             port, self.dir, SERVICE, self.primary_port, SERVICE,
                             self.down_after_ms, SERVICE, self.failover_timeout_ms, SERVICE,
                             SERVICE, self.replica_port))
                if self.acl:
                    fh.write("sentinel auth-user %s %s\nsentinel auth-pass %s %s\n" % (
                        SERVICE, self.acl[0], SERVICE, self.acl[1]))
            self._spawn("sentinel-%d" % i, [conf, "--sentinel"])
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(_answers(p) for p in [self.primary_port, self.replica_port] + self.sentinel_ports) \
                    and self._replica_synced() and self._sentinels_see_replica():
                return self
            time.sleep(0.1)
        raise RuntimeError("Sentinel setup not ready after %.0f s (logs in %s)" % (timeout, self.dir))

    def client(self, port: int) -> "object":
        import redis

        auth = {}
        if self.acl and port not in self.sentinel_ports:
            auth = {"username": self.acl[0], "password": self.acl[1]}
        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1, **auth)

    def _replica_synced(self) -> bool:
        try:
            info = self.client(self.replica_port).info("replication")
        except Exception:
            return False
        return info.get("master_link_status") == "up"

    def _sentinels_see_replica(self) -> bool:
        for port in self.sentinel_ports:
            try:
                replicas = self.client(port).sentinel_slaves(SERVICE)
            except Exception:
                return False
            if not any(int(r.get("port", 0)) == self.replica_port for r in replicas):
                return False
        return True

    def master_port(self) -> Optional[int]:
        for port in self.sentinel_ports:
            try:
                host_port = self.client(port).sentinel_get_master_addr_by_name(SERVICE)
            except Exception:
                continue
            if host_port:
                return int(host_port[1])
        return None

    def kill_primary(self) -> None:
        proc = self.procs["primary"]
        proc.kill()
        proc.wait(10)

    def wait_failover(self, timeout: float = 30.0) -> float:
        """Seconds until the sentinels name the replica as primary (and it takes writes)."""
        started = time.time()
        while time.time() - started < timeout:
            if self.master_port() == self.replica_port:
                try:
                    if self.client(self.replica_port).info("replication")["role"] == "master":
                        return time.time() - started
                except Exception:
                    pass
            time.sleep(0.05)
        raise RuntimeError("no failover within %.0f s (logs in %s)" % (timeout, self.dir))

    def cleanup(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
