"""`alpr bench fleet`: how delivered frames/s scales with N emulated Nanos on one Redis.

Each step starts N real `alpr worker --engine sleep:1/node_fps` processes, a dispatcher and
enough `alpr produce` processes (one camera each) to offer more than N x node_fps, lets it
warm up, then measures a window: delivered frames/s, efficiency = delivered / (N x node_fps),
end-to-end latency (done - capture) p50/p99, Redis CPU and memory (INFO deltas), and the CPU
our own processes spent per delivered frame, so the table says where it bends and why.
"""
import math
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Dict, List, Optional

import click

from alpr.stats import percentile
from bench.probes import (RedisSampler, file_sizes_kb, noise_jpegs, read_results, rounded)
from bench.procs import Harness, wait_until
from bench.redis_server import RedisServer
from bench.queue import _drop_namespace, machine
from bench.report import emit, plot_lines, report_options

DEFAULT_NODES = "1,2,4,8,16,32,48"
WORKERS_PER_CAMERA = 4  # one producer (camera) per 4 nodes: keeps its in-flight cap above need
OFFER_FACTOR = 1.3  # producers offer 30% more than the fleet can take


def host_cpu_busy() -> List[float]:
    """(busy, total) jiffies of the whole host from /proc/stat."""
    with open("/proc/stat") as fh:
        parts = [float(v) for v in fh.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)
    return [sum(parts) - idle, sum(parts)]


class FleetStep(object):
    """One sweep step: N workers, their producers and a dispatcher in a fresh namespace."""

    def __init__(self, redis_url: str, nodes: int, node_fps: float, seconds: float,
                 warmup: float, frames_dir: str, python: Optional[str] = None,
                 echo: Any = None) -> None:
        self.redis_url = redis_url
        self.nodes = int(nodes)
        self.node_fps = float(node_fps)
        self.seconds = float(seconds)
        self.warmup = float(warmup)
        self.frames_dir = frames_dir
        self.python = python
        self.echo = echo or (lambda msg: None)
        run = uuid.uuid4().hex[:8]
        self.namespace = "fleet-%s:" % run
        self.queue = "fleet-%s" % run

    def run(self) -> Dict[str, Any]:
        from alpr.keys import Keys
        from alpr.redis_conn import connect

        client = connect(self.redis_url)
        keys = Keys(self.namespace)
        cameras = max(1, int(math.ceil(self.nodes / float(WORKERS_PER_CAMERA))))
        offered = self.nodes * self.node_fps * OFFER_FACTOR
        cam_fps = offered / cameras
        common = ["--redis-url", self.redis_url, "--namespace", self.namespace]
        names = ["fleet-n%02d" % i for i in range(self.nodes)]
        try:
            with Harness(python=self.python) as procs:
                t_start = time.time()
                workers = [procs.spawn(n, "worker", *common + [
                    "--engine", "sleep:%.6f" % (1.0 / self.node_fps), "--queue", self.queue,
                    "--no-node-queue", "--node", n, "--log-level", "WARNING"]) for n in names]
                disp = procs.spawn("dispatch", "dispatch", *common + ["--log-level", "WARNING"],
                                   ALPR_QUEUE=self.queue)
                wait_until(lambda: all(client.exists(keys.node_alive(n)) for n in names) or
                           procs.dead(), 60 + 3 * self.nodes, 0.2, "%d workers" % self.nodes)
                startup_s = time.time() - t_start
                producers = [procs.spawn("produce-%d" % i, "produce", self.frames_dir, *common + [
                    "--camera", "fcam%02d" % i, "--fps", "%.3f" % cam_fps, "--loop",
                    "--queue", self.queue, "--log-level", "WARNING"]) for i in range(cameras)]
                time.sleep(self.warmup)
                ours0 = {p.name: p.cpu_s() for p in procs.procs}
                host0 = host_cpu_busy()
                sampler = RedisSampler(client).start()
                t0 = time.time()
                while time.time() - t0 < self.seconds:
                    time.sleep(min(0.5, self.seconds))
                    sampler.sample()
                t1 = time.time()
                redis_stats = sampler.stop()
                host1 = host_cpu_busy()
                cpu = {p.name: p.cpu_s() - ours0.get(p.name, 0.0) for p in procs.procs}
                dead = [p.name for p in procs.dead()]
                disp_alive = disp.alive()
            records = read_results(client, keys.results, start="%d-0" % int(t0 * 1000))
            return self._row(records, t0, t1, cameras, offered, cpu, redis_stats,
                             (host1[0] - host0[0]) / max(1.0, host1[1] - host0[1]), startup_s,
                             dead, disp_alive)
        finally:
            _drop_namespace(client, self.namespace, self.queue)

    def _row(self, records: List[Any], t0: float, t1: float, cameras: int, offered: float,
             cpu: Dict[str, float], redis_stats: Dict[str, Any], host_busy: float,
             startup_s: float, dead: List[str], disp_alive: bool) -> Dict[str, Any]:
        window = [r for r in records if t0 <= r.done <= t1]
        read = [r for r in window if r.status == "read"]
        span = t1 - t0
        fps = len(read) / span
        lat = [(r.done - r.ts) * 1000.0 for r in read]
        worker_cpu = sum(v for k, v in cpu.items() if k.startswith("fleet-n"))
        producer_cpu = sum(v for k, v in cpu.items() if k.startswith("produce"))
        per_frame = 1000.0 / max(1, len(read))
        return {
            "nodes": self.nodes, "fps": rounded(fps, 1),
            "efficiency": rounded(fps / (self.nodes * self.node_fps), 3),
            "p50_ms": rounded(percentile(lat, 50), 1), "p99_ms": rounded(percentile(lat, 99), 1),
            "offered_fps": rounded(offered, 1), "cameras": cameras,
            "produced_fps": rounded(len(window) / span, 1),
            "dropped_fps": rounded(sum(1 for r in window if r.status == "dropped") / span, 1),
            "stale_fps": rounded(sum(1 for r in window if r.status == "stale") / span, 1),
            "failed_fps": rounded(sum(1 for r in window if r.status == "failed") / span, 1),
            "host_cpu_busy": rounded(host_busy, 3), "cores": os.cpu_count(),
            "worker_cpu_ms_per_frame": rounded(worker_cpu * per_frame, 3),
            "producer_cpu_ms_per_frame": rounded(producer_cpu * per_frame, 3),
            "dispatcher_cpu_ms_per_frame": rounded(cpu.get("dispatch", 0.0) * per_frame, 3),
            "redis_cpu_ms_per_frame": rounded((redis_stats.get("redis_cpu_s") or 0) * per_frame, 3),
            "startup_s": rounded(startup_s, 1), "crashed": dead,
            "dispatcher_alive": disp_alive,
            **redis_stats
        }


def bends_because(row: Dict[str, Any]) -> str:
    """A one-line diagnosis of a row whose efficiency is below 0.95."""
    if row.get("efficiency") is None or row["efficiency"] >= 0.95:
        return ""
    if (row.get("host_cpu_busy") or 0) > 0.9:
        parts = sorted(((row.get(k) or 0.0, k.split("_")[0]) for k in (
            "worker_cpu_ms_per_frame", "producer_cpu_ms_per_frame", "redis_cpu_ms_per_frame",
            "dispatcher_cpu_ms_per_frame")), reverse=True)
        return "host CPU saturated (%.0f%% of %d cores); per frame: %s" % (
            100 * row["host_cpu_busy"], row.get("cores") or 0,
            ", ".join("%s %.2f ms" % (name, ms) for ms, name in parts))
    if (row.get("redis_cpu") or 0) > 0.8:
        return "Redis main thread near one core (%.0f%%)" % (100 * row["redis_cpu"])
    return "producers delivered %.0f of %.0f offered fps" % (row.get("produced_fps") or 0,
                                                           row.get("offered_fps") or 0)


@click.command("fleet")
@click.option("--redis-url", default=None, help="Redis to use (default: start a local one).")
@click.option("--nodes", default=DEFAULT_NODES, show_default=True,
              help="Comma-separated fleet sizes to sweep.")
@click.option("--node-fps", type=float, default=15.0, show_default=True,
              help="Frames/s one emulated node serves (sleep engine 1/node-fps s per frame).")
@click.option("--seconds", type=float, default=10.0, show_default=True,
              help="Measured window per step.")
@click.option("--warmup", type=float, default=3.0, show_default=True,
              help="Seconds of load before the window opens.")
@click.option("--frame-kb", type=int, default=50, show_default=True, help="JPEG size in KB.")
@click.option("--python", default=None, help="Interpreter for the fleet processes.")
@report_options
def fleet_cmd(redis_url: Optional[str], nodes: str, node_fps: float, seconds: float,
              warmup: float, frame_kb: int, python: Optional[str], as_json: bool,
              plot_path: Optional[str]) -> None:
    """Sweep fleet sizes: delivered fps, efficiency, latency, Redis CPU/memory (target >= 0.95)."""
    sizes = [int(n) for n in nodes.split(",") if n.strip()]
    local = None if redis_url else RedisServer().start()
    folder = tempfile.mkdtemp(prefix="alpr-fleet-frames-")
    rows = []  # type: List[Dict[str, Any]]
    frame_kb_real = None  # type: Optional[float]
    try:
        frame_kb_real = rounded(file_sizes_kb(noise_jpegs(folder, count=8, target_kb=frame_kb)), 1)
        for n in sizes:
            click.echo("fleet step: %d node(s)..." % n, err=True)
            row = FleetStep(redis_url or local.url, n, node_fps, seconds, warmup, folder,
                            python=python).run()
            row["bends_because"] = bends_because(row)
            rows.append(row)
            click.echo("  %d nodes: %s fps, efficiency %s, p99 %s ms, host CPU %s"
                       % (n, row["fps"], row["efficiency"], row["p99_ms"], row["host_cpu_busy"]),
                       err=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if local is not None:
            local.cleanup()
    summary = {"rows": rows, "node_fps": node_fps, "seconds": seconds,
               "frame_kb": frame_kb_real,
               "machine": machine()}
    headers = ["nodes", "fps", "efficiency", "p50_ms", "p99_ms", "offered", "dropped/s",
               "redis_cpu", "redis_mb", "host_cpu", "ours_ms/frame"]
    table = [[r["nodes"], r["fps"], r["efficiency"], r["p50_ms"], r["p99_ms"], r["offered_fps"],
              r["dropped_fps"], r["redis_cpu"], r["redis_mem_peak_mb"], r["host_cpu_busy"],
              (r["worker_cpu_ms_per_frame"] or 0) + (r["producer_cpu_ms_per_frame"] or 0)
              + (r["dispatcher_cpu_ms_per_frame"] or 0)] for r in rows]
    notes = ["%d nodes: %s" % (r["nodes"], r["bends_because"]) for r in rows if r["bends_because"]]
    if plot_path and rows:
        plot_lines(plot_path, "fleet scaling (%g fps per node)" % node_fps,
                   [r["nodes"] for r in rows],
                   {"efficiency x100": [100 * (r["efficiency"] or 0) for r in rows],
                    "p99 latency (ms)": [r["p99_ms"] for r in rows]}, xlabel="nodes")
    emit(summary, headers, table, as_json=as_json,
         title="fleet benchmark: sleep engine %.4f s/frame, %s KB frames"
         % (1.0 / node_fps, summary["frame_kb"]), notes=notes)
