"""What the fleet benchmarks measure: result timings, Redis INFO, the redis-benchmark floor, test frames.

Read-only probes on a running fleet plus the 200 KB noise JPEGs the queue benchmarks send;
no fleet logic lives here.
"""
import csv
import io
import math
import os
import shutil
import subprocess
import time
from typing import Any, Dict, Iterable, List, Optional
from urllib.parse import unquote, urlparse

from alpr.protocol import ResultRecord, decode_result
from alpr.errors import FrameDecodeError


def rounded(value: float, digits: int = 3) -> Optional[float]:
    """JSON-safe rounding: NaN/inf become None."""
    return round(value, digits) if isinstance(value, (int, float)) and math.isfinite(value) else None


def read_results(redis_client: Any, stream: str, start: str = "-",
                 chunk: int = 5000) -> List[ResultRecord]:
    """Every decodable record of the results stream from `start` (malformed ones skipped)."""
    out = []  # type: List[ResultRecord]
    cursor = start
    while True:
        entries = redis_client.xrange(stream, min=cursor, max="+", count=chunk)
        for entry_id, fields in entries:
            try:
                out.append(decode_result(fields))
            except FrameDecodeError:
                continue
        if len(entries) < chunk:
            return out
        last = entries[-1][0]
        last = last.decode() if isinstance(last, bytes) else last
        cursor = "(" + last


def overhead_ms(record: ResultRecord) -> Optional[float]:
    """Queue + wire time of one frame: capture-to-done minus the engine call (None if unknown)."""
    total = record.timings.get("total")
    if total is None:
        return None
    engine = record.timings.get("infer", record.timings.get("engine", 0.0))
    return total - engine


class RedisSampler(object):
    """Deltas of Redis CPU seconds and memory between `start()` and `stop()` (INFO)."""

    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client
        self.t0 = self.cpu0 = 0.0
        self.peak_used = 0
        self.samples = []  # type: List[int]

    def cpu_s(self) -> float:
        info = self.redis.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def start(self) -> "RedisSampler":
        self.t0 = time.monotonic()
        self.cpu0 = self.cpu_s()
        self.sample()
        return self

    def sample(self) -> int:
        """Record used_memory now (call it periodically for a peak over the run)."""
        used = int(self.redis.info("memory")["used_memory"])
        self.samples.append(used)
        self.peak_used = max(self.peak_used, used)
        return used

    def stop(self) -> Dict[str, Any]:
        """CPU share of one core over the interval, memory now and the sampled peak (MB)."""
        cpu = self.cpu_s() - self.cpu0
        wall = max(1e-6, time.monotonic() - self.t0)
        used = self.sample()
        return {"redis_cpu": rounded(cpu / wall, 3), "redis_cpu_s": rounded(cpu, 3),
                "redis_mem_mb": rounded(used / 1e6, 1),
                "redis_mem_peak_mb": rounded(self.peak_used / 1e6, 1)}


def redis_benchmark_floor(url: str, value_bytes: int = 200000, requests: int = 2000,
                          ca_certs: str = "") -> Dict[str, Any]:
    """`redis-benchmark -c 1 -t set,get -d SIZE -n N --csv` on the same Redis: p50/p99 per op (ms).

    One client, so the figures are per-call latency (the least a frame's SET + GET can cost).
    """
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {"error": "redis-benchmark not installed"}
    parsed = urlparse(url)
    argv = [binary, "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 6379),
            "-c", "1", "-t", "set,get", "-d", str(value_bytes), "-n", str(requests), "--csv"]
    if parsed.path and parsed.path.strip("/"):
        argv += ["--dbnum", parsed.path.strip("/")]
    if parsed.username:
        argv += ["--user", unquote(parsed.username)]
    if parsed.password:
        argv += ["-a", unquote(parsed.password)]
    if parsed.scheme == "rediss":
        argv += ["--tls"] + (["--cacert", ca_certs] if ca_certs else ["--insecure"])
    env = dict(os.environ, REDISCLI_AUTH="")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(timeout=300)
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8", "replace"))))
    result = {"value_bytes": value_bytes, "requests": requests}  # type: Dict[str, Any]
    for row in rows:
        test = (row.get("test") or "").lower()
        if test in ("set", "get") and row.get("p50_latency_ms"):
            result["%s_ms_p50" % test] = float(row["p50_latency_ms"])
            result["%s_ms_p99" % test] = float(row["p99_latency_ms"])
            result["%s_rps" % test] = float(row["rps"])
    if "set_ms_p50" not in result:
        result["error"] = "redis-benchmark gave no SET/GET rows: %s" % err.decode()[-200:]
    else:
        result["floor_ms"] = round(result["set_ms_p50"] + result.get("get_ms_p50", 0.0), 3)
    return result


def noise_jpegs(folder: str, count: int = 8, target_kb: int = 200, quality: int = 90,
                seed: int = 0) -> List[str]:
    """Write `count` random-noise JPEGs of about `target_kb` KB each (noise does not compress)."""
    import cv2
    import numpy as np

    rng = np.random.RandomState(seed)
    target = target_kb * 1000
    width = 320
    paths = []
    for i in range(count):
        data = b""
        for _ in range(4):  # size grows with area: rescale the width toward the target
            height = max(8, int(width * 0.75))
            img = rng.randint(0, 256, (height, width, 3)).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
            data = buf.tobytes()
            if abs(len(data) - target) < 0.03 * target:
                break
            width = max(8, int(width * math.sqrt(target / float(len(data)))))
        path = os.path.join(folder, "noise-%03d.jpg" % i)
        with open(path, "wb") as fh:
            fh.write(data)
        paths.append(path)
    return paths


def file_sizes_kb(paths: Iterable[str]) -> float:
    """Mean size of files in KB."""
    sizes = [os.path.getsize(p) for p in paths]
    return sum(sizes) / 1000.0 / max(1, len(sizes))
