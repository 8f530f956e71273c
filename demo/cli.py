"""`alpr demo`: a whole fleet on one box (redis-server, workers, dispatcher, producers), then a summary."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, Optional

import click

from alpr import defaults
from bench.procs import free_port
from bench.redis_server import redis_answers
from demo.fleet import Fleet


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
    redis_server = None
    if redis_url and redis_answers(redis_url):
        run_id = uuid.uuid4().hex[:8]
        namespace = namespace or "demo-%s:" % run_id
        queue = "demo-%s" % run_id  # a real fleet on the same Redis never takes demo frames
        out("reusing Redis at %s (namespace %s)" % (_redact(redis_url), namespace))
    else:
        if redis_url:
            out("Redis at %s does not answer; starting a local redis-server" % _redact(redis_url))
        redis_server = Fleet.start_redis(log_dir)
        redis_url = redis_server.url
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
    fleet.redis_server = redis_server
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
    start_console(fleet, out)
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


def start_console(fleet: Fleet, out: Callable[[str], None]) -> str:
    """`alpr serve` over the demo's store and Redis (the web console: the generated plates
    appear live in it); on the usual port if it is free. Returns its URL."""
    with socket.socket() as sock:
        port = defaults.API_PORT if sock.connect_ex(("127.0.0.1", defaults.API_PORT)) else 0
    port = port or free_port()
    fleet.spawn("console", ["serve", "--db", fleet.store_url, "--data-dir", fleet.data_dir,
                            "--port", str(port)])
    url = "http://127.0.0.1:%d/" % port
    out("web console: %s (Live, Search, Fleet, Known plates; open it now to watch)" % url)
    return url


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt()


def _redact(url: str) -> str:
    from alpr.settings import redact_url

    return redact_url(url)
