"""Dispatcher throughput on a backlog: N synthetic result entries (10 cameras x 15 fps, 8 frames per vehicle, 10% misreads).

Run: .venv/bin/python tests/dispatcher/bench_dispatch_backlog.py [N] [dedup_similarity]
Not collected by pytest (a measurement, not a test); starts its own redis-server.
"""
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import redis  # noqa: E402

from redis_server import RedisServer  # noqa: E402
from alpr.keys import Keys  # noqa: E402
from alpr.protocol import ResultRecord, encode_result  # noqa: E402
from dispatcher.consumer import ResultsConsumer  # noqa: E402
from dispatcher.grouping import Deduper, Grouper  # noqa: E402
from dispatcher.recent import RecentCache  # noqa: E402
from dispatcher.service import Dispatcher  # noqa: E402
srv = RedisServer().start()
r = redis.Redis.from_url(srv.url)
keys = Keys()
CAMS, FPS, PER_VEHICLE = 10, 15, 8
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
rng = random.Random(0)
def plate(): return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3)) + str(rng.randint(0, 9)) + rng.choice("ABCDEFGHJ") + "%02d" % rng.randint(0, 99)
current = {c: plate() for c in range(CAMS)}
t0 = time.time() - N / (CAMS * FPS)
pipe = r.pipeline(transaction=False)
vehicles = set()
for i in range(N):
    cam = i % CAMS; k = i // CAMS
    if k % PER_VEHICLE == 0: current[cam] = plate()
    text = current[cam]
    if rng.random() < 0.1: text = text[:5] + rng.choice("0123456789") + text[6:]  # a misread
    vehicles.add((cam, current[cam]))
    rec = ResultRecord("f%d" % i, "cam%d" % cam, "read", ts=t0 + k / FPS,
                       reads=[{"text": text, "confidence": 0.9, "box": [1, 2, 3, 4], "region": "br"}])
    pipe.xadd(keys.results, encode_result(rec))
    if i % 1000 == 999: pipe.execute()
pipe.execute()
d = Dispatcher(r, keys, ResultsConsumer(r, keys.results, consumer="b", block_ms=10), Grouper(3, 0.8), Deduper(60, float(sys.argv[2]) if len(sys.argv) > 2 else 0.9), RecentCache(r, keys, 3600))
d.start()
t = time.time()
while d.stats["entries"] < N:
    d.step()
dt = time.time() - t
d.flush()
print("dispatcher backlog: %d result entries (%d cameras x %d fps, %d frames/vehicle) in %.2f s = %.0f entries/s; %d events for %d vehicles; pending %d"
      % (N, CAMS, FPS, PER_VEHICLE, dt, N / dt, r.xlen(keys.events), len(vehicles), d.consumer.pending_count()))
srv.cleanup()
