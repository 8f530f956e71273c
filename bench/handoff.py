"""The hand-off floor: the least any design that keeps frames in Redis can add to a frame's age.

Two bare processes on the same Redis, with the same client library, frame size and pace as
the queue benchmark's latency phase, and none of the fleet's code:
  producer: every 1/rate s, stamp the time, then MULTI [SET body with a TTL, RPUSH its key]
  consumer: BLPOP the key, GET the body; age = now - stamp
That is one round trip to put, the wake-up of a blocked client, and one round trip to fetch
the body, which our queue must pay too (RQ's lists hold job ids, so the body is fetched
after the pop). On a machine whose idle CPUs sleep (a VM halting its vCPUs between frames)
this is far above `redis-benchmark`'s back-to-back floor, so the queue's own cost is read as
overhead above it, measured in the same run.

A second, leaner pair (`list`) shows the least any Redis hand-off can cost at all: the body
itself is pushed onto a list (RPUSH) and taken with BRPOPLPUSH into a processing list (the
reliable-queue pattern; its LREM after the timing): one command each side.

  python -m bench.handoff consume URL LIST COUNT [kv|list]   (prints {"ages_ms": [...]})
  python -m bench.handoff produce URL LIST COUNT RATE BYTES [kv|list]
"""
import json
import os
import sys
import time
from typing import Any, Dict, List

from alpr.stats import percentile
from bench.probes import rounded

TTL_MS = 60000


def produce(url: str, list_key: str, count: int, rate: float, size: int,
            mode: str = "kv") -> None:
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
        if mode == "list":
            client.rpush(list_key, ("%r|" % stamp).encode() + body)
            continue
        key = "%s:%d:%r" % (list_key, i, stamp)
        pipe = client.pipeline(transaction=True)
        pipe.set(key, body, px=TTL_MS)
        pipe.rpush(list_key, key)
        pipe.execute()


def consume(url: str, list_key: str, count: int, mode: str = "kv",
            timeout_s: float = 30.0) -> List[float]:
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    ages = []  # type: List[float]
    taken = list_key + ":taken"
    for _ in range(count):
        if mode == "list":
            item = client.brpoplpush(list_key, taken, timeout=int(timeout_s))
            if item is None:
                break
            now = time.time()
            ages.append((now - float(item[:40].split(b"|", 1)[0])) * 1000.0)
            client.lrem(taken, 1, item)
            continue
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
    """Run both pairs under `procs` (a bench.procs.Harness): p50/p99 of the frames' ages,
    `handoff_floor_*` for the SET+RPUSH -> BLPOP+GET pair, `handoff_list_floor_*` for the
    body-in-a-list pair."""
    out = {}  # type: Dict[str, Any]
    for mode, prefix in (("kv", "handoff_floor"), ("list", "handoff_list_floor")):
        ages = _pair(procs, redis_url, "%s:%s" % (list_key, mode), count, rate, size, mode)
        out["handoff_frames" if mode == "kv" else "handoff_list_frames"] = len(ages)
        out[prefix + "_ms_p50"] = rounded(percentile(ages, 50))
        out[prefix + "_ms_p99"] = rounded(percentile(ages, 99))
    return out


def _pair(procs: Any, redis_url: str, list_key: str, count: int, rate: float, size: int,
          mode: str) -> List[float]:
    module = [procs.python, "-m", "bench.handoff"]
    consumer = procs.spawn_argv("handoff-consume-" + mode, module + [
        "consume", redis_url, list_key, str(count), mode])
    time.sleep(1.0)  # connected and blocked before the first frame
    producer = procs.spawn_argv("handoff-produce-" + mode, module + [
        "produce", redis_url, list_key, str(count), repr(rate), str(size), mode])
    producer.wait(count / max(rate, 1.0) * 3 + 60)
    consumer.wait(60)
    for line in reversed(consumer.log_text().strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line).get("ages_ms", [])
    return []


def main(argv: List[str]) -> int:
    role, url, list_key, count = argv[0], argv[1], argv[2], int(argv[3])
    if role == "consume":
        mode = argv[4] if len(argv) > 4 else "kv"
        ages = consume(url, list_key, count, mode)
        print(json.dumps({"ages_ms": [round(a, 4) for a in ages]}))
        return 0
    if role == "produce":
        mode = argv[6] if len(argv) > 6 else "kv"
        produce(url, list_key, count, float(argv[4]), int(argv[5]), mode)
        return 0
    print("usage: python -m bench.handoff consume|produce URL LIST COUNT [RATE BYTES] [kv|list]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
