"""Measure the queue's per-frame cost: stock RQ per job vs the fleet's path per frame.

``python -m bench.queue_cost --redis-url URL`` runs, in this process, (1) stock RQ: a
SimpleWorker on no-op jobs, and (2) the fleet: producer puts (frame key + RQ job in one
MULTI) of ``--kb`` KB frames, then a FleetWorker with the null engine in burst mode. Round
trips are counted on the client socket (one write = one round trip; a pipeline is one).
Prints one JSON object; ``measure()`` returns the same figures.
"""
import argparse
import json
import os
import time
import uuid
from typing import Any, Dict

import redis

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope, decode_result
from alpr.retry import Retry
from alpr.stats import percentile


class CountingConnection(redis.Connection):
    """A redis-py connection that counts socket writes (= round trips)."""

    writes = 0

    def send_packed_command(self, command: Any, *args: Any, **kwargs: Any) -> None:
        CountingConnection.writes += 1
        return super().send_packed_command(command, *args, **kwargs)


def counting_client(url: str) -> Any:
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    return redis.Redis(connection_pool=pool)


def stock_rq(url: str, jobs: int) -> Dict[str, float]:
    """Stock RQ: ms and round trips per no-op job through a SimpleWorker (JSON serializer)."""
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    client = counting_client(url)
    name = "qcost-stock-%s" % uuid.uuid4().hex[:6]
    queue = Queue(name, connection=client, serializer=JSONSerializer)
    for _ in range(jobs):
        queue.enqueue_call("builtins.len", args=([],), result_ttl=10)
    worker = SimpleWorker([queue], connection=client, serializer=JSONSerializer)
    worker.work(burst=True, logging_level="WARNING")  # registration etc. happen once
    for _ in range(jobs):
        queue.enqueue_call("builtins.len", args=([],), result_ttl=10)
    worker = SimpleWorker([queue], connection=client, serializer=JSONSerializer)
    writes = CountingConnection.writes
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    return {"ms_per_job": elapsed * 1000.0 / jobs,
            "round_trips_per_job": (CountingConnection.writes - writes) / float(jobs)}


def fleet(url: str, frames: int, kb: int, batch_max: int) -> Dict[str, float]:
    """The fleet path: producer put cost, then worker cost per frame with the null engine."""
    from worker.frame_engines import NullEngine
    from alpr.frame_jobs import enqueue_frames, job_queue
    from worker.jobs import make_queue
    from worker.metrics import Metrics
    from worker.node import FleetWorker, build_frame_path

    run = uuid.uuid4().hex[:6]
    keys = Keys("qcost-%s:" % run)
    queue_name = "qcost-%s" % run
    client = counting_client(url)
    store = FrameStore(client, keys)
    queue = job_queue(queue_name, client)
    data = os.urandom(kb * 1024)
    writes = CountingConnection.writes
    put_ms = []
    for i in range(frames):
        env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera="qcost", data=data, seq=i,
                            max_age_s=600.0)
        t0 = time.perf_counter()
        store.put(env, queue_job_fn=lambda pipe, e=env: enqueue_frames(
            queue, [(e.frame_id, e.camera)], pipeline=pipe, job_id=e.frame_id))
        put_ms.append((time.perf_counter() - t0) * 1000.0)
    put_writes = CountingConnection.writes - writes
    path = build_frame_path(client, store, keys, NullEngine(), "qcost-%s" % run, [queue_name],
                            queue_name, batch_max, Metrics(), Retry(retries=3))
    worker = FleetWorker([make_queue(queue_name, client)], client, path)
    writes = CountingConnection.writes
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    worker_writes = CountingConnection.writes - writes
    done = sorted(decode_result(f).done for _, f in client.xrange(keys.results))
    gaps = [(b - a) * 1000.0 for a, b in zip(done, done[1:])]
    acc = store.accounting("qcost")
    client.delete(keys.results, keys.counts("qcost"), keys.inflight("qcost"), keys.cameras)
    return {"frames": frames, "kb": kb, "batch_max": batch_max, "read": acc["read"],
            "worker_ms_per_frame": elapsed * 1000.0 / frames,
            "worker_round_trips_per_frame": worker_writes / float(frames),
            "overhead_ms_p50": percentile(gaps, 50, empty=0.0),
            "overhead_ms_p99": percentile(gaps, 99, empty=0.0),
            "producer_ms_p50": percentile(put_ms, 50, empty=0.0),
            "producer_ms_p99": percentile(put_ms, 99, empty=0.0),
            "producer_round_trips_per_frame": put_writes / float(frames),
            "rq_jobs": path.processor.metrics.rq_jobs,
            "drained_jobs": path.processor.metrics.drained_jobs}


def measure(url: str, frames: int = 1000, kb: int = 200, batch_max: int = 8,
            stock_jobs: int = 500) -> Dict[str, Any]:
    """Both measurements as one dict (``stock`` and ``fleet``)."""
    return {"stock": stock_rq(url, stock_jobs), "fleet": fleet(url, frames, kb, batch_max)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=200)
    parser.add_argument("--batch-max", type=int, default=8)
    parser.add_argument("--stock-jobs", type=int, default=500)
    args = parser.parse_args()
    out = measure(args.redis_url, args.frames, args.kb, args.batch_max, args.stock_jobs)
    print(json.dumps({k: ({kk: round(vv, 3) if isinstance(vv, float) else vv
                           for kk, vv in v.items()}) for k, v in out.items()}))


if __name__ == "__main__":
    main()
