"""The worker's counters and per-stage timings, served in Prometheus text format.

Self-contained (http.server) so a Jetson without prometheus_client still exposes
``/metrics``; scrape it with any Prometheus.
"""
import collections
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

WINDOW = 512  # recent samples per stage kept for quantiles


def _quantile(values: List[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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
            return _quantile(list(self.stage_recent.get(stage, ())), q)

    def total_frames(self) -> int:
        with self._lock:
            return sum(self.frames.values())

    def render(self, info: Optional[Dict[str, Any]] = None) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        lines = ["# HELP alpr_frames_total Frames finished by this worker, by terminal state.",
                 "# TYPE alpr_frames_total counter"]
        with self._lock:
            for status, n in sorted(self.frames.items()):
                lines.append('alpr_frames_total{status="%s"} %d' % (_esc(status), n))
            lines += ["# HELP alpr_refused_jobs_total Jobs refused (pickle payload, function "
                      "outside the allowlist).", "# TYPE alpr_refused_jobs_total counter"]
            for kind, n in sorted(self.refused.items()):
                lines.append('alpr_refused_jobs_total{kind="%s"} %d' % (_esc(kind), n))
            lines += ["# HELP alpr_rq_jobs_total RQ jobs run; drained jobs were taken without "
                      "RQ's per-job cost.", "# TYPE alpr_rq_jobs_total counter",
                      "alpr_rq_jobs_total %d" % self.rq_jobs,
                      "# TYPE alpr_drained_jobs_total counter",
                      "alpr_drained_jobs_total %d" % self.drained_jobs,
                      "# HELP alpr_stage_ms Per-stage time of a frame in milliseconds.",
                      "# TYPE alpr_stage_ms summary"]
            stages = sorted(self.stage_count)  # type: List[str]
            snapshot = {s: list(self.stage_recent.get(s, ())) for s in stages}
            sums = dict(self.stage_sum)
            counts = dict(self.stage_count)
        for stage in stages:
            for q in (0.5, 0.9, 0.99):
                lines.append('alpr_stage_ms{stage="%s",quantile="%s"} %.3f'
                             % (_esc(stage), q, _quantile(snapshot[stage], q)))
            lines.append('alpr_stage_ms_sum{stage="%s"} %.3f' % (_esc(stage), sums[stage]))
            lines.append('alpr_stage_ms_count{stage="%s"} %d' % (_esc(stage), counts[stage]))
        lines += ["# TYPE alpr_frames_per_second gauge", "alpr_frames_per_second %.3f" % self.fps(),
                  "# TYPE alpr_uptime_seconds gauge",
                  "alpr_uptime_seconds %.1f" % (time.time() - self.started)]
        if info:
            labels = ",".join('%s="%s"' % (_label(k), _esc(str(v))) for k, v in sorted(info.items()))
            lines += ["# TYPE alpr_worker_info gauge", "alpr_worker_info{%s} 1" % labels]
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in str(name)) or "x"


def serve_metrics(metrics: Metrics, port: int, host: str = "0.0.0.0",
                  info: Optional[Dict[str, Any]] = None) -> Tuple[Any, int]:
    """Serve ``/metrics`` on a daemon thread; returns (server, bound port). Port 0 picks one."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

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

    server = HTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="alpr-metrics", daemon=True)
    thread.start()
    return server, server.server_address[1]
