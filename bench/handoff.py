"""The hand-off floor: the least any design that keeps frames in Redis can add to a frame's age.

Two bare processes on the same Redis, with the same client library, frame size and pace as
the queue benchmark's latency phase, and none of the fleet's code:
  producer: every 1/rate s, stamp the time, then MULTI [SET body with a TTL, RPUSH its key]
  consumer: BLPOP the key, GET the body; age = now - stamp
That is one round trip to put, the wake-up of a blocked client, and one round trip to fetch
the body, which our queue must pay too. On a machine whose idle CPUs sleep (a VM halting its
vCPUs between frames) this is far above `redis-benchmark`'s back-to-back floor, so the queue's
own cost is read as overhead above it, measured in the same run.

  python -m bench.handoff consume URL LIST COUNT       (prints {"ages_ms": [...]})
  python -m bench.handoff produce URL LIST COUNT RATE BYTES
"""
import json
import os
import sys
import time
from typing import Any, Dict, List

from bench.probes import percentile, rounded

TTL_MS = 60000


def produce(url: str, list_key: str, count: int, rate: float, size: int) -> None:
    import redis

    client = redis.Redis.from_url(url)
    body = os.urandom(size)
    period = 1.0 / rate if rate > 0 else 0.0
    next_at = time.time()
    for i in range(count):
        now = time.time()
        if next_at > now:
            time.sleep(next_at - now)
        next_at += period
        stamp = time.time()
        key = "%s:%d:%r" % (list_key, i, stamp)
        pipe = client.pipeline(transaction=True)
        pipe.set(key, body, px=TTL_MS)
        pipe.rpush(list_key, key)
        pipe.execute()


def consume(url: str, list_key: str, count: int, timeout_s: float = 30.0) -> List[float]:
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    ages = []  # type: List[float]
    for _ in range(count):
        got = client.blpop([list_key], timeout=int(timeout_s))
        if got is None:
            break
        key = got[1]
        body = client.get(key)
        now = time.time()
        if body is not None:
            ages.append((now - float(key.decode().rsplit(":", 1)[1])) * 1000.0)
        client.delete(key)
    return ages


def measure(procs: Any, redis_url: str, list_key: str, count: int, rate: float,
            size: int) -> Dict[str, Any]:
    """Run the pair under `procs` (a bench.procs.Harness); p50/p99 of the frames' ages."""
    module = [procs.python, "-m", "bench.handoff"]
    consumer = procs.spawn_argv("handoff-consume", module + [
        "consume", redis_url, list_key, str(count)])
    time.sleep(1.0)  # connected and blocked before the first frame
    producer = procs.spawn_argv("handoff-produce", module + [
        "produce", redis_url, list_key, str(count), repr(rate), str(size)])
    producer.wait(count / max(rate, 1.0) * 3 + 60)
    consumer.wait(60)
    ages = []  # type: List[float]
    for line in reversed(consumer.log_text().strip().splitlines()):
        if line.startswith("{"):
            ages = json.loads(line).get("ages_ms", [])
            break
    return {"handoff_frames": len(ages),
            "handoff_floor_ms_p50": rounded(percentile(ages, 50)),
            "handoff_floor_ms_p99": rounded(percentile(ages, 99))}


def main(argv: List[str]) -> int:
    role, url, list_key, count = argv[0], argv[1], argv[2], int(argv[3])
    if role == "consume":
        print(json.dumps({"ages_ms": [round(a, 4) for a in consume(url, list_key, count)]}))
        return 0
    if role == "produce":
        produce(url, list_key, count, float(argv[4]), int(argv[5]))
        return 0
    print("usage: python -m bench.handoff consume|produce URL LIST COUNT [RATE BYTES]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
