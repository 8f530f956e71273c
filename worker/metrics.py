"""The worker's counters and per-stage timings, served in Prometheus text format.

prometheus_client renders and serves ``/metrics`` (its exposition, gzip and OpenMetrics
negotiation) where it is installed: 0.17.1 on the Nano's Python 3.6 (requirements-jetson),
the newest on 3.11. The hand-written renderer below is only the fallback for a box without
it; both write the same metric names, labels and values (tests/worker/test_metrics.py).
"""
import collections
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from alpr.stats import percentile

WINDOW = 512  # recent samples per stage kept for quantiles
QUANTILES = (0.5, 0.9, 0.99)  # the summary's quantiles (alpr_stage_ms)

Sample = Tuple[str, Dict[str, str], float]  # (sample name, labels, value)
Family = Tuple[str, str, str, List[Sample]]  # (metric name, type, help, samples)


class Metrics(object):
    """Thread-safe frame counters, per-stage latency windows and a frames/s estimate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames = collections.Counter()  # type: Dict[str, int]
        self.refused = collections.Counter()  # type: Dict[str, int]
        self.stage_sum = collections.Counter()  # type: Dict[str, float]
        self.stage_count = collections.Counter()  # type: Dict[str, int]
        self.stage_recent = {}  # type: Dict[str, Deque[float]]
        self.done_times = collections.deque(maxlen=WINDOW)  # type: Deque[float]
        self.drained_jobs = 0
        self.rq_jobs = 0
        self.started = time.time()

    def frame_done(self, status: str, timings: Dict[str, float]) -> None:
        """Count one terminal frame (counter key = status or failed:<reason>) and its stage times."""
        with self._lock:
            self.frames[status] += 1
            self.done_times.append(time.time())
            for stage, ms in timings.items():
                self.stage_sum[stage] += ms
                self.stage_count[stage] += 1
                self.stage_recent.setdefault(stage, collections.deque(maxlen=WINDOW)).append(ms)

    def job_done(self, drained: int) -> None:
        with self._lock:
            self.rq_jobs += 1
            self.drained_jobs += drained

    def refusal(self, kind: str) -> None:
        with self._lock:
            self.refused[kind] += 1

    def fps(self, window_s: float = 10.0) -> float:
        """Frames finished per second over the last ``window_s`` seconds."""
        now = time.time()
        with self._lock:
            recent = [t for t in self.done_times if now - t <= window_s]
        span = min(window_s, now - self.started)
        return len(recent) / span if span > 0 else 0.0

    def latency(self, stage: str = "total", q: float = 0.5) -> float:
        with self._lock:
            return percentile(list(self.stage_recent.get(stage, ())), q * 100.0, empty=0.0)

    def total_frames(self) -> int:
        with self._lock:
            return sum(self.frames.values())

    def families(self, info: Optional[Dict[str, Any]] = None) -> List[Family]:
        """Every metric as (name, type, help, [(sample name, labels, value)]), one snapshot."""
        with self._lock:
            frames = sorted(self.frames.items())
            refused = sorted(self.refused.items())
            rq_jobs, drained = self.rq_jobs, self.drained_jobs
            stages = sorted(self.stage_count)  # type: List[str]
            snapshot = {s: list(self.stage_recent.get(s, ())) for s in stages}
            sums = dict(self.stage_sum)
            counts = dict(self.stage_count)
        stage_samples = []  # type: List[Sample]
        for stage in stages:
            for q in QUANTILES:
                stage_samples.append(("alpr_stage_ms", {"stage": stage, "quantile": str(q)},
                                      percentile(snapshot[stage], q * 100.0, empty=0.0)))
            stage_samples.append(("alpr_stage_ms_sum", {"stage": stage}, sums[stage]))
            stage_samples.append(("alpr_stage_ms_count", {"stage": stage}, counts[stage]))
        out = [
            ("alpr_frames_total", "counter", "Frames finished by this worker, by terminal state.",
             [("alpr_frames_total", {"status": k}, n) for k, n in frames]),
            ("alpr_refused_jobs_total", "counter",
             "Jobs refused (pickle payload, function outside the allowlist).",
             [("alpr_refused_jobs_total", {"kind": k}, n) for k, n in refused]),
            ("alpr_rq_jobs_total", "counter",
             "RQ jobs run; drained jobs were taken without RQ's per-job cost.",
             [("alpr_rq_jobs_total", {}, rq_jobs)]),
            ("alpr_drained_jobs_total", "counter",
             "Jobs the drain took off a queue (no RQ per-job cost).",
             [("alpr_drained_jobs_total", {}, drained)]),
            ("alpr_stage_ms", "summary", "Per-stage time of a frame in milliseconds.",
             stage_samples),
            ("alpr_frames_per_second", "gauge", "Frames finished per second over the last 10 s.",
             [("alpr_frames_per_second", {}, self.fps())]),
            ("alpr_uptime_seconds", "gauge", "Seconds since this worker started.",
             [("alpr_uptime_seconds", {}, time.time() - self.started)]),
        ]  # type: List[Family]
        if info:
            labels = {_label(k): str(v) for k, v in sorted(info.items())}
            out.append(("alpr_worker_info", "gauge",
                        "This worker: node, engine, versions (always 1).",
                        [("alpr_worker_info", labels, 1)]))
        return out

    def render(self, info: Optional[Dict[str, Any]] = None) -> str:
        """The Prometheus text exposition (format 0.0.4): prometheus_client's, else our own."""
        client = _prometheus_client()
        if client is None:
            return render_text(self.families(info))
        return client.generate_latest(_registry(client, self, info)).decode("utf-8")


def render_text(families: List[Family]) -> str:
    """The fallback renderer, for a box without prometheus_client (same names and labels)."""
    lines = []  # type: List[str]
    for name, kind, doc, samples in families:
        lines.append("# HELP %s %s" % (name, doc))
        lines.append("# TYPE %s %s" % (name, kind))
        for sample, labels, value in samples:
            inner = ",".join('%s="%s"' % (k, _esc(v)) for k, v in labels.items())
            number = "%d" % value if isinstance(value, int) else "%.3f" % value
            lines.append("%s%s %s" % (sample, "{%s}" % inner if inner else "", number))
    return "\n".join(lines) + "\n"


def _prometheus_client() -> Any:
    """The prometheus_client module, or None where it is not installed."""
    try:
        import prometheus_client
    except ImportError:
        return None
    return prometheus_client


def _registry(client: Any, metrics: "Metrics", info: Optional[Dict[str, Any]]) -> Any:
    """A private registry whose one collector turns Metrics.families() into client metrics."""
    from prometheus_client.core import Metric

    class Collector(object):
        def collect(self) -> Any:
            for name, kind, doc, samples in metrics.families(info):
                # the client adds "_total" to a counter's samples itself
                family = Metric(name[:-6] if kind == "counter" else name, doc, kind)
                for sample, labels, value in samples:
                    family.add_sample(sample, labels, value)
                yield family

    registry = client.CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return registry


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in str(name)) or "x"


def serve_metrics(metrics: Metrics, port: int, host: str = "0.0.0.0",
                  info: Optional[Dict[str, Any]] = None) -> Tuple[Any, int]:
    """Serve ``/metrics`` on a daemon thread; returns (server, bound port). Port 0 picks one.

    With prometheus_client, its MetricsHandler answers (gzip, OpenMetrics on request).
    """
    from http.server import BaseHTTPRequestHandler, HTTPServer

    client = _prometheus_client()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = metrics.render(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Scrapes are not worth a log line each."""

    handler = Handler if client is None else \
        client.MetricsHandler.factory(_registry(client, metrics, info))
    server = HTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="alpr-metrics", daemon=True)
    thread.start()
    return server, server.server_address[1]
