"""`alpr bench queue`: what the queue costs per frame, with a null engine behind the real worker.

Real processes end to end: `alpr produce` (200 KB noise JPEGs) -> Redis -> RQ -> `alpr worker
--engine null` -> results stream -> `alpr dispatch`. Three phases on one Redis:
  latency:    frames paced below capacity; overhead = (done - capture ts) - engine time: what
              the queue adds to a frame's age (producer put, wake-up, claim)
  throughput: frames queued first, then the workers drain them; frames/s per worker process
  node budget: one worker whose engine takes a 15-FPS Nano's 1/15 s drains a backlog; the
              gap between one frame's engine run and the next is what the queue costs the
              node per frame (claims, pops and finishes run beside the engine: read-ahead)
next to two floors on the same Redis: `redis-benchmark` SET/GET of the same value size
(back to back), and the hand-off floor (bench.handoff: bare processes doing SET+RPUSH ->
BLPOP+GET at the latency phase's pace, what any Redis hand-off of a frame costs here).
"""
import json
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Dict, List, Optional

import click

from alpr import defaults

from alpr.stats import percentile
from bench.probes import (file_sizes_kb, noise_jpegs, overhead_ms, read_results,
                          redis_benchmark_floor, rounded, RedisSampler)
from bench import handoff
from bench.procs import Harness, wait_until
from bench.redis_server import RedisServer
from bench.report import emit, plot_bars, report_options


NODE_FPS = 15.0  # the node-budget phase's engine: a Jetson Nano's frame rate


class QueueBench(object):
    """One run of the queue benchmark against a Redis URL (see the module docstring)."""

    def __init__(self, redis_url: str, workers: int = 1, frames: int = 2000, rate: float = 50.0,
                 seconds: float = 10.0, frame_kb: int = 200,
                 batch_max: int = defaults.BATCH_MAX,
                 python: Optional[str] = None, echo: Any = None) -> None:
        self.redis_url = redis_url
        self.workers = max(1, int(workers))
        self.frames = int(frames)
        self.rate = float(rate)
        self.seconds = float(seconds)
        self.frame_kb = int(frame_kb)
        self.batch_max = int(batch_max)
        self.python = python
        self.echo = echo or (lambda msg: None)
        run = uuid.uuid4().hex[:8]
        self.namespace = "bench-%s:" % run
        self.queue = "bench-%s" % run

    def run(self) -> Dict[str, Any]:
        from alpr.frame_store import FrameStore
        from alpr.keys import Keys
        from alpr.redis_conn import connect

        client = connect(self.redis_url)
        keys = Keys(self.namespace)
        store = FrameStore(client, keys)
        folder = tempfile.mkdtemp(prefix="alpr-bench-frames-")
        try:
            paths = noise_jpegs(folder, count=8, target_kb=self.frame_kb)
            out = {"frame_kb": rounded(file_sizes_kb(paths), 1), "workers": self.workers,
                   "batch_max": self.batch_max}  # type: Dict[str, Any]
            self.echo("redis-benchmark floor (SET/GET %d KB, 1 client)..." % self.frame_kb)
            floor = redis_benchmark_floor(self.redis_url, value_bytes=self.frame_kb * 1000)
            out["redis_floor_ms"] = floor.get("floor_ms")
            out["redis_benchmark"] = floor
            with Harness(python=self.python) as procs:
                common = ["--redis-url", self.redis_url, "--namespace", self.namespace]
                procs.spawn("dispatch", "dispatch", *common, ALPR_QUEUE=self.queue)
                self.echo("hand-off floors: bare SET+RPUSH -> BLPOP+GET, and RPUSH body -> "
                          "BRPOPLPUSH, at %.0f fps..." % self.rate)
                out.update(handoff.measure(procs, self.redis_url, self.namespace + "handoff",
                                           self._count(), self.rate, int(out["frame_kb"] * 1000)))
                out.update(self._latency(procs, common, folder, client, keys, store))
                out["overhead_above_floor_ms_p50"] = _minus(out.get("overhead_ms_p50"),
                                                            out.get("handoff_floor_ms_p50"))
                out.update(self._throughput(procs, common, folder, client, keys, store))
                out.update(self._budget(procs, common, folder, client, keys, store))
                out["dispatcher_pending"] = _pending(client, keys)
                dead = [p.name for p in procs.dead()]
                out["crashed"] = dead
            return out
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            _drop_namespace(client, self.namespace, self.queue)

    def _start_workers(self, procs: Harness, common: List[str], tag: str) -> List[Any]:
        return [procs.spawn("worker-%s%d" % (tag, i), "worker", *common, "--engine", "null",
                            "--queue", self.queue, "--no-node-queue", "--node",
                            "bench-%s-%s%d" % (self.queue, tag, i), "--batch-max", self.batch_max)
                for i in range(self.workers)]

    def _wait_nodes(self, client: Any, keys: Any, names: List[str]) -> None:
        wait_until(lambda: all(client.exists(keys.node_alive(n)) for n in names), 60.0, 0.1,
                   "workers to heartbeat")

    def _count(self) -> int:
        """Frames of the latency phase (and of the hand-off floor beside it)."""
        return max(1, int(self.rate * self.seconds))

    def _latency(self, procs: Harness, common: List[str], folder: str, client: Any, keys: Any,
                 store: Any) -> Dict[str, Any]:
        """Paced frames (below capacity): per-frame overhead p50/p99."""
        cam = "lat"
        workers = self._start_workers(procs, common, "l")
        self._wait_nodes(client, keys, ["bench-%s-l%d" % (self.queue, i) for i in range(self.workers)])
        count = self._count()
        self.echo("latency phase: %d frames at %.0f fps..." % (count, self.rate))
        sampler = RedisSampler(client).start()
        producer = procs.spawn("produce-lat", "produce", folder, *common, "--camera", cam,
                               "--fps", self.rate, "--frames", count, "--loop", "--queue",
                               self.queue, "--max-age", 60, "--json")
        producer.wait(self.seconds * 3 + 60)
        _wait_done(store, cam, count, 60.0)
        redis = sampler.stop()
        for proc in workers:
            proc.stop()
        records = [r for r in read_results(client, keys.results) if r.camera == cam]
        over = [v for v in (overhead_ms(r) for r in records if r.status == "read") if v is not None]
        queue_wait = [r.timings.get("queue", 0.0) for r in records if r.status == "read"]
        claim = [r.timings.get("claim", 0.0) for r in records if r.status == "read"]
        acct = store.accounting(cam)
        return {"latency_frames": acct["read"], "latency_rate_fps": self.rate,
                "overhead_ms_p50": rounded(percentile(over, 50)),
                "overhead_ms_p99": rounded(percentile(over, 99)),
                "queue_wait_ms_p50": rounded(percentile(queue_wait, 50)),
                "claim_ms_p50": rounded(percentile(claim, 50)),
                "latency_accounting": acct, "latency_redis": redis,
                "producer": _last_json(producer.log_text())}

    def _throughput(self, procs: Harness, common: List[str], folder: str, client: Any, keys: Any,
                    store: Any) -> Dict[str, Any]:
        """Frames queued first (no worker), then drained: frames/s per worker process."""
        cam = "tput"
        self.echo("throughput phase: queueing %d frames..." % self.frames)
        producer = procs.spawn("produce-tput", "produce", folder, *common, "--camera", cam,
                               "--fps", 0, "--frames", self.frames, "--loop", "--queue", self.queue,
                               "--max-age", 600, "--inflight-cap", self.frames + 10, "--json")
        producer.wait(600)
        produced = store.accounting(cam)["produced"]
        sampler = RedisSampler(client).start()
        workers = self._start_workers(procs, common, "t")
        self.echo("throughput phase: %d worker(s) draining %d frames..." % (self.workers, produced))
        _wait_done(store, cam, produced, 600.0)
        redis = sampler.stop()
        cpu = sum(w.cpu_s() for w in workers)
        for proc in workers:
            proc.stop()
        records = [r for r in read_results(client, keys.results) if r.camera == cam]
        done = sorted(r.done for r in records if r.status == "read")
        span = (done[-1] - done[0]) if len(done) > 1 else float("nan")
        fps = (len(done) - 1) / span / self.workers if span and span > 0 else float("nan")
        return {"frames_per_s": rounded(fps, 1), "throughput_frames": len(done),
                "per_frame_cost_ms": rounded(1000.0 / fps if fps else float("nan")),
                "worker_cpu_ms_per_frame": rounded(1000.0 * cpu / max(1, len(done))),
                "throughput_redis": redis, "throughput_accounting": store.accounting(cam),
                "producer_fill": _last_json(producer.log_text())}


    def _budget(self, procs: Harness, common: List[str], folder: str, client: Any, keys: Any,
                store: Any, node_fps: float = NODE_FPS) -> Dict[str, Any]:
        """A 15-FPS engine draining a backlog: per-frame gaps between engine runs."""
        cam = "budget"
        count = max(20, int(node_fps * self.seconds))
        self.echo("node budget phase: one %g-FPS worker draining %d frames..." % (node_fps, count))
        producer = procs.spawn("produce-budget", "produce", folder, *common, "--camera", cam,
                               "--fps", 0, "--frames", count, "--loop", "--queue", self.queue,
                               "--max-age", 600, "--inflight-cap", count + 10)
        producer.wait(600)
        worker = procs.spawn("worker-b", "worker", *common, "--engine",
                             "sleep:%.6f" % (1.0 / node_fps), "--queue", self.queue,
                             "--no-node-queue", "--node", "bench-%s-b" % self.queue,
                             "--batch-max", self.batch_max)
        _wait_done(store, cam, count, count / node_fps * 3 + 60)
        worker.stop()
        records = sorted((r for r in read_results(client, keys.results)
                          if r.camera == cam and r.status == "read"), key=lambda r: r.done)
        gaps = [(b.done - b.timings.get("infer", 0.0) / 1000.0 - a.done) * 1000.0
                for a, b in zip(records, records[1:])]
        span = records[-1].done - records[0].done if len(records) > 1 else float("nan")
        engine = [r.timings.get("infer", 0.0) for r in records[1:]]
        mean = (span * 1000.0 - sum(engine)) / len(engine) if engine else float("nan")
        return {"node_fps": node_fps, "node_frames": len(records),
                "node_overhead_ms_p50": rounded(percentile(gaps, 50)),
                "node_overhead_ms_p99": rounded(percentile(gaps, 99)),
                "node_overhead_ms_mean": rounded(mean),
                "node_budget_fraction": rounded(mean * node_fps / 1000.0, 4)}


def _minus(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return rounded(a - b) if a is not None and b is not None else None


def _wait_done(store: Any, camera: str, expected: int, timeout: float) -> None:
    def done() -> bool:
        acct = store.accounting(camera)
        return acct["produced"] >= expected and acct["in_flight"] == 0

    try:
        wait_until(done, timeout, 0.1, "camera %s to finish" % camera)
    except TimeoutError:
        pass  # reported through the accounting figures


def _pending(client: Any, keys: Any) -> Optional[int]:
    try:
        wait_until(lambda: int(client.xpending(keys.results, "dispatch")["pending"]) == 0, 10.0,
                   0.1, "dispatcher to ack")
        return 0
    except Exception:  # noqa: BLE001 - reported as a number or None
        try:
            return int(client.xpending(keys.results, "dispatch")["pending"])
        except Exception:  # noqa: BLE001
            return None


def _drop_namespace(client: Any, namespace: str, queue: str) -> None:
    """Remove the run's keys so a shared Redis is left as found."""
    try:
        from rq.queue import Queue

        # every RQ queue of the run is named under its namespace (alpr.keys.Keys.queue)
        for pattern in (namespace + "*", Queue.redis_queue_namespace_prefix + namespace + "*"):
            batch = list(client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(batch), 500):
                client.delete(*batch[i:i + 500])
    except Exception:  # noqa: BLE001 - cleanup is best effort
        pass


def _last_json(text: str) -> Dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return {}


def table_rows(res: Dict[str, Any]) -> List[List[Any]]:
    """(figure, value) rows of the human table."""
    floor = res.get("redis_benchmark", {})
    return [
        ["frames/s per worker process", res.get("frames_per_s")],
        ["per-frame cost at saturation (ms)", res.get("per_frame_cost_ms")],
        ["worker CPU per frame (ms)", res.get("worker_cpu_ms_per_frame")],
        ["queue overhead p50 (ms), capture to done", res.get("overhead_ms_p50")],
        ["queue overhead p99 (ms), capture to done", res.get("overhead_ms_p99")],
        ["hand-off floor p50 / p99 (ms), bare SET+RPUSH -> BLPOP+GET", "%s / %s" % (
            res.get("handoff_floor_ms_p50"), res.get("handoff_floor_ms_p99"))],
        ["queue overhead above the hand-off floor, p50 (ms)", res.get("overhead_above_floor_ms_p50")],
        ["leanest hand-off p50 / p99 (ms), body RPUSH -> BRPOPLPUSH", "%s / %s" % (
            res.get("handoff_list_floor_ms_p50"), res.get("handoff_list_floor_ms_p99"))],
        ["  worker claim p50 (ms)", res.get("claim_ms_p50")],
        ["  producer put p50 (ms)", res.get("producer", {}).get("put_ms_p50")],
        ["node budget: queue cost per frame p50 (ms)", res.get("node_overhead_ms_p50")],
        ["node budget: queue cost per frame p99 (ms)", res.get("node_overhead_ms_p99")],
        ["node budget: mean (ms) / share of 1/15 s", "%s / %s" % (
            res.get("node_overhead_ms_mean"), res.get("node_budget_fraction"))],
        ["redis-benchmark SET p50 (ms)", floor.get("set_ms_p50")],
        ["redis-benchmark GET p50 (ms)", floor.get("get_ms_p50")],
        ["redis floor SET+GET (ms)", res.get("redis_floor_ms")],
        ["dispatcher pending at end", res.get("dispatcher_pending")],
    ]


@click.command("queue")
@click.option("--redis-url", default=None, help="Redis to measure (default: start a local one).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--frames", type=int, default=2000, show_default=True,
              help="Frames queued for the throughput phase.")
@click.option("--rate", type=float, default=50.0, show_default=True,
              help="Paced frames/s of the latency phase (keep it below capacity).")
@click.option("--seconds", type=float, default=10.0, show_default=True,
              help="Length of the latency phase.")
@click.option("--frame-kb", type=int, default=200, show_default=True, help="JPEG size in KB.")
@click.option("--batch-max", type=int, default=defaults.BATCH_MAX, show_default=True,
              help="Most frames one RQ job handles (worker --batch-max).")
@click.option("--python", default=None, help="Interpreter for the fleet processes.")
@report_options
def queue_cmd(redis_url: Optional[str], workers: int, frames: int, rate: float, seconds: float,
              frame_kb: int, batch_max: int, python: Optional[str], as_json: bool,
              plot_path: Optional[str]) -> None:
    """Per-frame queue cost with a null engine behind the real worker (target <= 1 ms p50)."""
    local = None if redis_url else RedisServer().start()
    try:
        bench = QueueBench(redis_url or local.url, workers=workers, frames=frames, rate=rate,
                           seconds=seconds, frame_kb=frame_kb, batch_max=batch_max,
                           python=python, echo=lambda m: click.echo(m, err=True))
        res = bench.run()
        res["machine"] = machine()
    finally:
        if local is not None:
            local.cleanup()
    title = ("queue benchmark: null engine, %s KB noise JPEGs, %d worker process(es), "
             "batch_max %d" % (res.get("frame_kb"), res.get("workers"), res.get("batch_max")))
    if plot_path:
        plot_bars(plot_path, "queue cost per frame, %s KB frames" % res.get("frame_kb"),
                  ["redis SET+GET p50", "hand-off floor p50", "overhead p50", "overhead p99",
                   "cost @saturation"],
                  {"ms": [res.get("redis_floor_ms"), res.get("handoff_floor_ms_p50"),
                          res.get("overhead_ms_p50"), res.get("overhead_ms_p99"),
                          res.get("per_frame_cost_ms")]},
                  ylabel="ms per frame")
    emit(res, ["figure", "value"], table_rows(res), as_json=as_json, title=title)


def machine() -> Dict[str, Any]:
    """Where the figures came from."""
    import platform

    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
