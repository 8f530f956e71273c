"""R4: producers at 3x fleet capacity; Redis memory stays under the design's bound, drops are counted, ages bounded.

2 workers emulate Nanos (sleep engine, 1/15 s per frame: 30 frames/s together); 3 producers
send 200 KB frames at 30 fps each (90 fps, 3x). used_memory is sampled throughout and must
stay under the bound the design allows (in-flight cap x frame size, frames held by nodes,
the trimmed results stream, a fixed allowance for RQ and client buffers). Redis's own
maxmemory (noeviction) is set 4x above that bound, so the bound that holds is ours, not
Redis's eviction or an OOM refusal.
"""
import os
import threading
import time

import redis

from alpr.keys import Keys
from alpr.stats import percentile
from bench.probes import read_results
from bench.procs import wait_until
from chaos_helpers import FleetRun, crash_lines, figures, size
from redis_server import RedisServer

MAX_AGE_S = 5.0
NODE_S = 1.0 / 15
INFLIGHT_CAP = 8  # the default per-camera cap (alpr.defaults.INFLIGHT_CAP)
RESULTS_MAXLEN = 1000  # results stream trim in this run, so the trim is part of the bound
STREAM_NODE = 100  # MAXLEN ~ trims whole radix-tree nodes: up to stream-node-max-entries more
ALLOC_SLACK = 1.25  # jemalloc size classes round a ~200 KB value up by up to ~12%, plus keys
FIXED_ALLOWANCE_MB = 16.0  # RQ job hashes and queues, Lua scripts, client query/output buffers


def design_bound_mb(cameras, nodes, frame_bytes, record_bytes):
    """What the design lets Redis hold above its idle baseline, in MB."""
    frames = (cameras * INFLIGHT_CAP + nodes * 2) * frame_bytes * ALLOC_SLACK  # 2: one in the engine, one read ahead
    clients = (cameras + nodes) * frame_bytes * ALLOC_SLACK  # a frame in each socket buffer
    stream = (RESULTS_MAXLEN + STREAM_NODE) * record_bytes
    return (frames + clients + stream) / 1e6 + FIXED_ALLOWANCE_MB


def test_r4_overload_stays_bounded(harness, noise_dir):
    seconds = size(20, 120)
    frame_bytes = max(os.path.getsize(os.path.join(noise_dir, f)) for f in os.listdir(noise_dir))
    record_bytes = 400  # a result record as a stream entry; checked against Redis below
    bound_mb = design_bound_mb(3, 2, frame_bytes, record_bytes)
    maxmemory_mb = int(4 * bound_mb)  # well above the design: Redis's limit must never bind
    server = RedisServer(extra_args=["--maxmemory", "%dmb" % maxmemory_mb,
                                     "--maxmemory-policy", "noeviction"]).start()
    try:
        run = FleetRun(server.url, harness, env={"ALPR_RESULTS_MAXLEN": str(RESULTS_MAXLEN)})
        keys = Keys(run.namespace)
        client = redis.Redis.from_url(server.url)
        workers = ["r4-w0", "r4-w1"]
        for name in workers:
            run.worker(name, "sleep:%.4f" % NODE_S, "--no-node-queue")
        dispatcher = run.dispatcher()
        wait_until(lambda: all(client.exists(keys.node_alive(n)) for n in workers), 60, 0.1,
                   "workers to heartbeat")
        baseline = int(client.info("memory")["used_memory"])
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
        above_mb = (max(samples) - baseline) / 1e6
        stream_len = int(client.xlen(keys.results))
        entry_bytes = int(client.memory_usage(keys.results) or 0) / max(1, stream_len)
        figures("R4", seconds=round(elapsed, 1), offered_fps=round(totals["produced"] / elapsed, 1),
                delivered_fps=round(totals["read"] / elapsed, 1), totals=totals,
                redis_peak_mb=round(peak_mb, 1), redis_above_baseline_mb=round(above_mb, 1),
                design_bound_mb=round(bound_mb, 1), redis_maxmemory_mb=maxmemory_mb,
                results_stream_len=stream_len, result_entry_bytes=round(entry_bytes),
                age_p50_s=round(percentile(ages, 50), 3), age_p99_s=round(percentile(ages, 99), 3),
                oom_errors=sum("OOM" in p.log_text() for p in harness.procs))
        assert status["invariant_ok"], totals
        assert entry_bytes <= record_bytes, "a result entry takes %d B, the bound assumed %d" % (
            entry_bytes, record_bytes)
        assert stream_len <= RESULTS_MAXLEN + STREAM_NODE, "results stream not trimmed: %d" % stream_len
        assert above_mb <= bound_mb, "Redis grew %.1f MB, over the design's %.1f MB" % (
            above_mb, bound_mb)
        assert peak_mb < maxmemory_mb / 2.0  # Redis's own limit was never near
        assert totals["dropped"] + totals["stale"] > 0, "3x overload without a counted drop"
        assert totals["produced"] >= 2.5 * totals["read"], "producers did not offer 3x capacity"
        assert percentile(ages, 99) <= MAX_AGE_S
        assert dispatcher.alive() and all(p.alive() for p in harness.named("r4-w"))
        assert not any("OOM" in p.log_text() for p in harness.procs)
        assert not [line for p in harness.procs for line in crash_lines(p)]
    finally:
        server.cleanup()
