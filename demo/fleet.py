"""A whole fleet on one box: `Fleet` starts, watches and stops its real processes.

`alpr demo` (demo.cli) and the end-to-end tests run workers, a dispatcher and producers
as `python -m alpr` children; a Fleet never leaves a child behind: SIGTERM, wait, SIGKILL
after a timeout. Settings reach the children through ALPR_* environment variables, so
each verb reads them as usual.
"""
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import click

from alpr.keys import Keys
from bench.procs import stop_popen
from bench.redis_server import RedisServer
from dispatcher.status import camera_accounting, totals

STOP_TIMEOUT_S = 15.0  # a worker finishes its current frame batch well within this
WORKER_READY_TIMEOUT_S = 120.0  # model load + warm-up on a slow CPU


class Fleet(object):
    """Child processes of one local fleet, their logs, and clean shutdown."""

    def __init__(self, redis_url: str, namespace: str, queue: str, log_dir: str,
                 extra_env: Optional[Dict[str, str]] = None) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.queue = queue
        self.log_dir = log_dir
        self.extra_env = dict(extra_env or {})
        self.procs = {}  # type: Dict[str, subprocess.Popen]
        self.redis_server = None  # type: Optional[RedisServer]  # the fleet's own, stopped last
        self.keys = Keys(namespace)
        self._client = None  # type: Any
        self.event_lines = []  # type: List[str]
        self.event_thread = None  # type: Optional[threading.Thread]

    # --- processes ---------------------------------------------------------------------
    @staticmethod
    def start_redis(log_dir: str) -> RedisServer:
        """A throwaway redis-server on a free loopback port (no persistence), log in log_dir."""
        try:
            return RedisServer(log_path=os.path.join(log_dir, "redis.log")).start()
        except RuntimeError as exc:
            raise click.ClickException("%s; or pass --redis-url of a running Redis" % exc)

    def env(self, **extra: str) -> Dict[str, str]:
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update({"ALPR_REDIS_URL": self.redis_url, "ALPR_NAMESPACE": self.namespace,
                    "ALPR_QUEUE": self.queue})
        env.update(self.extra_env)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def spawn(self, name: str, args: List[str], stdout: Any = None, **env: str) -> "subprocess.Popen":
        """Start `python -m alpr ARGS` with its log in log_dir/NAME.log (or piped stdout)."""
        log = open(os.path.join(self.log_dir, name + ".log"), "wb")
        proc = subprocess.Popen([sys.executable, "-m", "alpr"] + args, env=self.env(**env),
                                stdout=stdout if stdout is not None else log,
                                stderr=log, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, engine: str = "pipeline", extra: Optional[List[str]] = None) -> Any:
        return self.spawn(name, ["worker", "--engine", engine] + list(extra or []),
                          ALPR_NODE_NAME=name)

    def start_dispatcher(self, name: str = "dispatcher", extra: Optional[List[str]] = None,
                         on_event: Optional[Callable[[str], None]] = None) -> Any:
        """The dispatcher with --print; its EVENT lines go to `on_event` and self.event_lines."""
        proc = self.spawn(name, ["dispatch", "--print"] + list(extra or []), stdout=subprocess.PIPE)
        self.event_thread = follow_events(proc, on_event or (lambda line: None), self.event_lines)
        return proc

    def start_producer(self, name: str, camera: str, source: str, extra: Optional[List[str]] = None) -> Any:
        return self.spawn(name, ["produce", source] + list(extra or []), ALPR_CAMERA=camera)

    def stop(self, name: str, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
        """SIGTERM, wait, SIGKILL; returns the exit code."""
        proc = self.procs.get(name)
        return None if proc is None else stop_popen(proc, timeout)

    def kill(self, name: str) -> None:
        """SIGKILL one process (the chaos tests' node death)."""
        proc = self.procs[name]
        proc.kill()
        proc.wait(5)

    def stop_all(self) -> None:
        """Stop producers, then workers, then the dispatcher (in parallel within a rank), then redis."""
        def rank(name: str) -> int:
            return 0 if name.startswith("producer") else 2 if name.startswith("dispatch") else 1

        for level in (0, 1, 2):
            threads = [threading.Thread(target=self.stop, args=(n,))
                       for n in list(self.procs) if rank(n) == level]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if self.redis_server is not None:
            self.redis_server.cleanup()

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    # --- observing -------------------------------------------------------------------------
    @property
    def redis(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.redis_url, socket_timeout=5.0)
        return self._client

    def wait_nodes(self, names: List[str], timeout: float = WORKER_READY_TIMEOUT_S) -> None:
        """Block until every named worker heartbeats (models loaded and warm)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(self.redis.exists(self.keys.node_alive(n)) for n in names):
                return
            for n in names:
                if not self.alive(n):
                    raise click.ClickException("worker %s exited; see %s" % (
                        n, os.path.join(self.log_dir, n + ".log")))
            time.sleep(0.2)
        raise click.ClickException("workers not ready after %.0f s; logs in %s" % (timeout, self.log_dir))

    def accounting(self) -> Dict[str, Any]:
        """Totals over all cameras (one consistent snapshot)."""
        return totals(camera_accounting(self.redis, self.keys))

    def wait_accounted(self, timeout: float, produced_at_least: int = 1) -> Dict[str, Any]:
        """Wait until frames were produced and none is in flight (or the timeout)."""
        deadline = time.time() + timeout
        acc = self.accounting()
        while time.time() < deadline:
            if acc["produced"] >= produced_at_least and acc["in_flight"] == 0:
                break
            time.sleep(0.2)
            acc = self.accounting()
        return acc

    def wait_dispatched(self, timeout: float) -> bool:
        """Wait until the dispatcher's group has been handed every results entry."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                last = self.redis.xinfo_stream(self.keys.results)["last-generated-id"]
                groups = self.redis.xinfo_groups(self.keys.results)
            except Exception:  # noqa: BLE001 - no stream yet
                return True
            delivered = [g["last-delivered-id"] for g in groups]
            if delivered and all(_id_tuple(d) >= _id_tuple(last) for d in delivered):
                return True
            time.sleep(0.2)
        return False

    def exact_reads(self) -> Dict[str, int]:
        """Labelled frames the models saw (read or failed) and how many were read exactly (best read)."""
        from alpr.plate_formats import normalize_plate
        from alpr.protocol import decode_result

        labelled = exact = 0
        start = "-"
        while True:
            batch = self.redis.xrange(self.keys.results, min=start, count=1000)
            if not batch:
                break
            for _entry_id, fields in batch:
                try:
                    rec = decode_result(fields)
                except Exception:  # noqa: BLE001 - malformed entries do not count
                    continue
                if not rec.truth or rec.status not in ("read", "failed"):
                    continue  # stale/dropped frames never reached the models: not an accuracy matter
                labelled += 1
                if rec.reads:
                    best = max(rec.reads, key=lambda r: float(r.get("confidence") or 0.0))
                    if normalize_plate(str(best.get("text") or "")) == normalize_plate(rec.truth[0]):
                        exact += 1
            last = batch[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return {"labelled": labelled, "exact": exact}

    def events(self) -> List[Dict[str, Any]]:
        return [json.loads(f[b"event"]) for _, f in self.redis.xrange(self.keys.events)]


def _id_tuple(entry_id: Any) -> tuple:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return (int(ms), int(seq or 0))


def follow_events(proc: "subprocess.Popen", emit: Callable[[str], None],
                  lines: List[str]) -> threading.Thread:
    """Relay the dispatcher's EVENT lines as they arrive; always drains its stdout (a daemon thread)."""

    def pump() -> None:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith("EVENT"):
                lines.append(line)
                emit(line)

    thread = threading.Thread(target=pump, name="events", daemon=True)
    thread.start()
    return thread
