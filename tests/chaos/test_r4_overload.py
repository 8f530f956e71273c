"""R4: producers at 3x fleet capacity; Redis memory stays under a cap, drops are counted, ages bounded.

2 workers emulate Nanos (sleep engine, 1/15 s per frame: 30 frames/s together); 3 producers
send 200 KB frames at 30 fps each (90 fps, 3x). Redis runs with maxmemory (noeviction), so a
design that relied on luck would hit OOM errors. used_memory is sampled throughout.
"""
import threading
import time

import redis

from alpr.keys import Keys
from bench.probes import percentile, read_results
from bench.procs import wait_until
from chaos_helpers import FleetRun, figures, size
from redis_server import RedisServer

CAP_MB = 64  # 3 cameras x in-flight cap 8 x 200 KB is ~5 MB; 64 MB leaves RQ and streams room
MAX_AGE_S = 5.0
NODE_S = 1.0 / 15


def test_r4_overload_stays_bounded(harness, noise_dir):
    seconds = size(20, 120)
    server = RedisServer(extra_args=["--maxmemory", "%dmb" % CAP_MB,
                                     "--maxmemory-policy", "noeviction"]).start()
    try:
        run = FleetRun(server.url, harness)
        keys = Keys(run.namespace)
        client = redis.Redis.from_url(server.url)
        workers = ["r4-w0", "r4-w1"]
        for name in workers:
            run.worker(name, "sleep:%.4f" % NODE_S, "--no-node-queue")
        dispatcher = run.dispatcher()
        wait_until(lambda: all(client.exists(keys.node_alive(n)) for n in workers), 60, 0.1,
                   "workers to heartbeat")
        cams = ["r4cam%d" % i for i in range(3)]
        producers = [run.producer("r4-p%d" % i, noise_dir, cam, 30, None, "--max-age", MAX_AGE_S)
                     for i, cam in enumerate(cams)]
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(int(client.info("memory")["used_memory"]))
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        started = time.time()
        sampler.start()
        time.sleep(seconds)
        for proc in producers:
            proc.stop()
        stop.set()
        sampler.join(5)
        elapsed = time.time() - started
        wait_until(lambda: run.status()["totals"]["in_flight"] == 0, 30, 0.5, "in-flight to drain")
        status = run.status()
        totals = status["totals"]
        records = [r for r in read_results(client, keys.results) if r.status == "read"]
        ages = [r.done - r.ts for r in records]
        peak_mb = max(samples) / 1e6
        figures("R4", seconds=round(elapsed, 1), offered_fps=round(totals["produced"] / elapsed, 1),
                delivered_fps=round(totals["read"] / elapsed, 1), totals=totals,
                redis_peak_mb=round(peak_mb, 1), redis_cap_mb=CAP_MB,
                age_p50_s=round(percentile(ages, 50), 3), age_p99_s=round(percentile(ages, 99), 3),
                oom_errors=sum("OOM" in p.log_text() for p in harness.procs))
        assert status["invariant_ok"], totals
        assert peak_mb < CAP_MB, "Redis used %.1f MB, over the %d MB cap" % (peak_mb, CAP_MB)
        assert totals["dropped"] + totals["stale"] > 0, "3x overload without a counted drop"
        assert totals["produced"] >= 2.5 * totals["read"], "producers did not offer 3x capacity"
        assert percentile(ages, 99) <= MAX_AGE_S
        assert dispatcher.alive() and all(p.alive() for p in harness.named("r4-w"))
        assert not any("OOM" in p.log_text() for p in harness.procs)
    finally:
        server.cleanup()
