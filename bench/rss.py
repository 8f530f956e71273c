"""`alpr bench rss`: peak resident memory (VmHWM) of a worker with the default models, a producer and a dispatcher.

Runs the real processes over generated scenes until every frame is answered, sampling
/proc/PID/status while they live. The worker target is <= 600 MB (a 2 GB Nano also holds the
OS, the camera stack and the TensorRT engines' device memory).
"""
import time
import uuid
from typing import Any, Dict, List, Optional

import click

from bench.probes import rounded
from bench.procs import Harness, wait_until
from bench.redis_server import RedisServer
from bench.queue import _drop_namespace, machine
from bench.report import emit, plot_bars, report_options

WORKER_TARGET_MB = 600.0


def measure_rss(redis_url: str, frames: int = 60, fps: float = 10.0, engine: str = "pipeline",
                python: Optional[str] = None, worker_python: Optional[str] = None,
                source: str = "scenes", timeout: float = 300.0) -> Dict[str, Any]:
    """Run worker + dispatcher + producer over `frames` frames; peak RSS (MB) of each."""
    from alpr.frame_store import FrameStore
    from alpr.keys import Keys
    from alpr.redis_conn import connect

    run = uuid.uuid4().hex[:8]
    namespace, queue = "rss-%s:" % run, "rss-%s" % run
    client = connect(redis_url)
    keys = Keys(namespace)
    store = FrameStore(client, keys)
    common = ["--redis-url", redis_url, "--namespace", namespace]
    try:
        with Harness(python=python) as procs:
            worker_argv = [worker_python or procs.python, "-m", "alpr", "worker"] + common + [
                "--engine", engine, "--queue", queue, "--no-node-queue", "--node", "rss-" + run]
            worker = procs.spawn_argv("worker", worker_argv)
            disp = procs.spawn("dispatch", "dispatch", *common, ALPR_QUEUE=queue)
            wait_until(lambda: client.exists(keys.node_alive("rss-" + run)) or not worker.alive(),
                       timeout, 0.2, "the worker to load its models")
            started = time.time()
            producer = procs.spawn("produce", "produce", source, *common + [
                "--camera", "rsscam", "--fps", fps, "--frames", frames, "--queue", queue,
                "--max-age", 60])

            def done() -> bool:
                procs.sample()
                acct = store.accounting("rsscam")
                return acct["produced"] >= frames and acct["in_flight"] == 0 or not worker.alive()

            wait_until(done, timeout, 0.2, "every frame to be answered")
            procs.sample()
            acct = store.accounting("rsscam")
            out = {
                "worker_peak_rss_mb": rounded(worker.peak_rss_mb(), 1),
                "producer_peak_rss_mb": rounded(producer.peak_rss_mb(), 1),
                "dispatcher_peak_rss_mb": rounded(disp.peak_rss_mb(), 1),
                "worker_target_mb": WORKER_TARGET_MB, "engine": engine, "frames": frames,
                "accounting": acct, "elapsed_s": rounded(time.time() - started, 1),
                "worker_python": worker_python or procs.python,
                "worker_alive": worker.alive(),
            }
            if not worker.alive():
                out["worker_log"] = worker.log_tail(20)
            return out
    finally:
        _drop_namespace(client, namespace, queue)


@click.command("rss")
@click.option("--redis-url", default=None, help="Redis to use (default: start a local one).")
@click.option("--frames", type=int, default=60, show_default=True, help="Frames to process.")
@click.option("--fps", type=float, default=10.0, show_default=True, help="Producer rate.")
@click.option("--engine", default="pipeline", show_default=True,
              help="Worker engine (pipeline = the default models).")
@click.option("--source", default="scenes", show_default=True,
              help="Producer source (generated scenes by default).")
@click.option("--worker-python", default=None,
              help="Interpreter for the worker (e.g. .venv36/bin/python, the Nano's 3.6).")
@report_options
def rss_cmd(redis_url: Optional[str], frames: int, fps: float, engine: str, source: str,
            worker_python: Optional[str], as_json: bool, plot_path: Optional[str]) -> None:
    """Peak RSS of worker (default models), producer and dispatcher (worker target <= 600 MB)."""
    local = None if redis_url else RedisServer().start()
    try:
        res = measure_rss(redis_url or local.url, frames=frames, fps=fps, engine=engine,
                          worker_python=worker_python, source=source)
    finally:
        if local is not None:
            local.cleanup()
    res["machine"] = machine()
    rows = [["worker (%s)" % engine, res["worker_peak_rss_mb"],
             "<= %d" % WORKER_TARGET_MB if engine == "pipeline" else ""],
            ["producer (%s)" % source, res["producer_peak_rss_mb"], ""],
            ["dispatcher", res["dispatcher_peak_rss_mb"], ""]]  # type: List[List[Any]]
    if plot_path:
        plot_bars(plot_path, "peak RSS (VmHWM)", [r[0] for r in rows],
                  {"MB": [r[1] for r in rows]}, ylabel="MB")
    emit(res, ["process", "peak RSS (MB)", "target"], rows, as_json=as_json,
         title="peak resident memory, %d frames (%s)" % (frames, res["worker_python"]))
