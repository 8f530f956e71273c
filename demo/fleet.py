"""`alpr demo`: a whole fleet on one box (redis-server, workers, dispatcher, producers), then a summary.

`Fleet` starts and stops the real processes (also used by the end-to-end tests); it
never leaves a child behind: SIGTERM, wait, SIGKILL after a timeout. Settings reach the
children through ALPR_* environment variables, so each verb reads them as usual.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

import click

from alpr import defaults
from alpr.keys import Keys

STOP_TIMEOUT_S = 15.0  # a worker finishes its current frame batch well within this
WORKER_READY_TIMEOUT_S = 120.0  # model load + warm-up on a slow CPU


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str) -> bool:
    """True if a Redis server answers PING at `url` within a second."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "start our own"
        return False


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
        self.redis_proc = None  # type: Optional[subprocess.Popen]
        self.keys = Keys(namespace)
        self._client = None  # type: Any
        self.event_lines = []  # type: List[str]
        self.event_thread = None  # type: Optional[threading.Thread]

    # --- processes ---------------------------------------------------------------------
    @staticmethod
    def start_redis(log_dir: str) -> "subprocess.Popen":
        """A throwaway redis-server on a free loopback port (no persistence)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise click.ClickException(
                "redis-server not found: install it (e.g. apt-get install redis-server) or pass "
                "--redis-url of a running Redis")
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", log_dir, "--loglevel", "warning"],
            stdout=open(os.path.join(log_dir, "redis.log"), "wb"), stderr=subprocess.STDOUT)
        proc.url = "redis://127.0.0.1:%d/0" % port  # type: ignore
        deadline = time.time() + 10
        while time.time() < deadline:
            if proc.poll() is not None:
                raise click.ClickException("redis-server exited; see %s/redis.log" % log_dir)
            if redis_answers(proc.url):  # type: ignore
                return proc
            time.sleep(0.05)
        proc.kill()
        raise click.ClickException("redis-server did not answer within 10 s")

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
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

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
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            try:
                self.redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.redis_proc.kill()
                self.redis_proc.wait(5)

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
        from dispatcher.status import camera_accounting, totals

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
        from dispatcher.grouping import normalize_plate
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


def summarize(fleet: Fleet, acc: Dict[str, Any], elapsed: float) -> Dict[str, Any]:
    """The demo's final numbers (the --json object)."""
    reads = fleet.exact_reads()
    events = fleet.events()
    done = acc["read"] + acc["stale"] + acc["failed"]
    return {
        "produced": acc["produced"], "read": acc["read"], "stale": acc["stale"],
        "dropped": acc["dropped"], "failed": acc["failed"], "in_flight": acc["in_flight"],
        "failed_by_reason": acc["failed_by_reason"], "invariant_ok": acc["invariant_ok"],
        "labelled": reads["labelled"], "exact": reads["exact"],
        "exact_rate": round(reads["exact"] / reads["labelled"], 4) if reads["labelled"] else 0.0,
        "events": len(events), "vehicles": len(set(t for e in events for t in e.get("truth", []))),
        "fps": round(done / elapsed, 2) if elapsed > 0 else 0.0, "elapsed_s": round(elapsed, 2),
        **stored_summary(getattr(fleet, "store_url", "")),
    }


def stored_summary(store_url: str) -> Dict[str, Any]:
    """What the dispatcher stored: the store's URL, its event count, plates, and crops."""
    if not store_url:
        return {}
    from store import open_store
    from store.search import Query, search

    store = open_store(store_url)
    try:
        events = search(store, Query(limit=defaults.SEARCH_MAX_LIMIT))
        return {"store": store.url, "events_stored": store.count(),
                "plates": sorted(set(e["plate"] for e in events)),
                "events_with_crop": sum(1 for e in events if e.get("crop"))}
    finally:
        store.close()


def format_summary(s: Dict[str, Any]) -> str:
    return ("frames: produced %(produced)d, read %(read)d, stale %(stale)d, dropped %(dropped)d, "
            "failed %(failed)d, in flight %(in_flight)d (invariant %(inv)s)\n"
            "accuracy: %(exact)d of %(labelled)d labelled frames the models saw read exactly "
            "(%(pct).1f%%)\n"
            "events: %(events)d plate events; throughput %(fps).1f frames/s over %(elapsed_s).1f s"
            % dict(s, inv="ok" if s["invariant_ok"] else "BROKEN", pct=100.0 * s["exact_rate"])
            + ("\nstore: %d events (%d with a plate crop) in %s; try: alpr events search PLATE "
               "--db %s" % (s["events_stored"], s["events_with_crop"], s["store"], s["store"])
               if "store" in s else ""))


@click.command("demo")
@click.option("--redis-url", default=None, help="Reuse this Redis if it answers; else start a local one.")
@click.option("--namespace", default=None, help="Key prefix (default: fresh per run on a reused Redis).")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes.")
@click.option("--producers", type=int, default=1, show_default=True, help="Producers (one camera each).")
@click.option("--frames", type=int, default=24, show_default=True, help="Frames in all (generated scenes).")
@click.option("--repeat", type=int, default=3, show_default=True,
              help="Consecutive frames per generated vehicle (a car passing the camera).")
@click.option("--fps", type=float, default=2.0, show_default=True,
              help="Each producer's frame rate (CPU-only boxes read a few frames/s).")
@click.option("--source", default=None, help="Produce from this source instead of generated scenes.")
@click.option("--engine", default="pipeline", show_default=True, help="pipeline | null | sleep:S.")
@click.option("--seed", type=int, default=0, show_default=True, help="Scene generator seed.")
@click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True,
              help="Give up waiting for every frame to be accounted after this long.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object (events go to stderr).")
@click.option("--keep-logs", is_flag=True, help="Keep the processes' logs (printed path).")
@click.option("--data-dir", default=None,
              help="Where the demo's event store (SQLite) and evidence go (default: a new folder, kept).")
def demo_cmd(redis_url: Optional[str], namespace: Optional[str], workers: int, producers: int,
             frames: int, repeat: int, fps: float, source: Optional[str], engine: str, seed: int,
             timeout_s: float, as_json: bool, keep_logs: bool, data_dir: Optional[str]) -> None:
    """Run a whole fleet on this box over generated scenes, print plate events and a summary."""
    out = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    log_dir = tempfile.mkdtemp(prefix="alpr-demo-")
    redis_proc = None
    if redis_url and redis_answers(redis_url):
        run_id = uuid.uuid4().hex[:8]
        namespace = namespace or "demo-%s:" % run_id
        queue = "demo-%s" % run_id  # a real fleet on the same Redis never takes demo frames
        out("reusing Redis at %s (namespace %s)" % (_redact(redis_url), namespace))
    else:
        if redis_url:
            out("Redis at %s does not answer; starting a local redis-server" % _redact(redis_url))
        redis_proc = Fleet.start_redis(log_dir)
        redis_url = redis_proc.url  # type: ignore
        namespace = namespace or defaults.NAMESPACE
        queue = defaults.FRAME_QUEUE
        out("started redis-server at %s" % redis_url)
    env = {}  # type: Dict[str, str]
    if "ALPR_INTRA_OP_THREADS" not in os.environ:  # share the cores instead of oversubscribing
        env["ALPR_INTRA_OP_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    # no region forced: the generated scenes mix Brazilian, EU and US plates (br, eu, us in turn)
    data_dir = os.path.abspath(os.path.expanduser(
        data_dir or tempfile.mkdtemp(prefix="alpr-demo-data-")))
    os.makedirs(data_dir, exist_ok=True)
    store_url = "sqlite:///" + os.path.join(data_dir, "events.db")
    fleet = Fleet(redis_url, namespace, queue, log_dir, extra_env=env)
    fleet.redis_proc = redis_proc
    fleet.store_url, fleet.data_dir = store_url, data_dir
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    failed = True
    try:
        summary = _run(fleet, out, workers, producers, frames, repeat, fps, source, engine, seed,
                       timeout_s)
        failed = False
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; everything was stopped")
    finally:
        fleet.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if failed or keep_logs:
            out("logs kept in %s" % log_dir)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    out(format_summary(summary))
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))


def _run(fleet: Fleet, out: Callable[[str], None], workers: int, producers: int, frames: int,
         repeat: int, fps: float, source: Optional[str], engine: str, seed: int,
         timeout_s: float) -> Dict[str, Any]:
    names = ["worker%d" % i for i in range(1, max(1, workers) + 1)]
    for name in names:
        fleet.start_worker(name, engine)
    out("starting %d worker(s) with the %s engine..." % (len(names), engine))
    fleet.wait_nodes(names)
    fleet.start_dispatcher(on_event=out, extra=["--db", fleet.store_url,
                                                "--data-dir", fleet.data_dir])
    started = time.time()
    producers = max(1, producers)
    for i in range(producers):
        count = frames // producers + (1 if i < frames % producers else 0)
        args = ["--fps", str(fps), "--frames", str(count)]
        src = source or "scenes"
        if source is None:
            args += ["--repeat", str(max(1, repeat)), "--seed", str(seed + 1000 * i)]
        fleet.start_producer("producer%d" % (i + 1), "cam%d" % (i + 1), src, args)
    out("producing %d frames from %d camera(s)..." % (frames, producers))
    deadline = started + timeout_s
    for i in range(producers):
        proc = fleet.procs["producer%d" % (i + 1)]
        try:
            proc.wait(max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            fleet.stop("producer%d" % (i + 1))
    acc = fleet.wait_accounted(max(1.0, deadline - time.time()))
    elapsed = time.time() - started
    fleet.wait_dispatched(max(5.0, deadline - time.time()))
    fleet.stop("dispatcher")  # SIGTERM: it emits the groups still open, then exits
    if fleet.event_thread is not None:
        fleet.event_thread.join(5)
    return summarize(fleet, fleet.accounting(), elapsed)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt()


def _redact(url: str) -> str:
    from alpr.settings import redact_url

    return redact_url(url)
