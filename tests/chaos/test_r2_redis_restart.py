"""R2: restart redis-server mid-run, without persistence and with AOF (appendfsync always).

Producer, 2 workers and the dispatcher keep running across the restart: each is seen working
again within 5 s of Redis answering (producer: new frames counted; worker: heartbeat key back;
dispatcher: new results acked), none exits. With AOF (Redis killed with SIGKILL, a crash) no
accepted frame is lost. Without persistence everything in Redis is gone, so the loss is
measured from outside: frame ids the producer sent vs terminal records a test-side reader saw.
"""
import threading
import time

import pytest
import redis

from alpr.keys import Keys
from alpr.protocol import decode_result
from bench.procs import wait_until
from chaos_helpers import FleetRun, figures, size
from redis_server import RedisServer

RECONNECT_PROMISE_S = 5.0


class ResultTail(threading.Thread):
    """Follows the results stream across restarts, remembering every terminal record."""

    def __init__(self, url, stream):
        super().__init__(daemon=True)
        self.url = url
        self.stream = stream
        self.records = {}
        self.stop = False

    def run(self):
        last = "0-0"
        client = None
        while not self.stop:
            try:
                if client is None:
                    client = redis.Redis.from_url(self.url, socket_timeout=2)
                    last = "0-0"  # a restarted server may hold an older or an empty stream
                got = client.xread({self.stream: last}, count=500, block=200) or []
                for _, entries in got:
                    for entry_id, fields in entries:
                        last = entry_id
                        rec = decode_result(fields)
                        self.records.setdefault(rec.frame_id, rec)
            except redis.exceptions.ResponseError:
                last = "0-0"  # e.g. the stream's IDs restarted after a data loss
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                client = None
                time.sleep(0.05)


def _activity(client, keys, run, workers):
    """Marks of life per process: produced counter, worker heartbeats, dispatcher acks."""
    out = {}
    try:
        out["producer"] = int(client.hget(keys.counts("r2cam"), "produced") or 0)
        for name in workers:
            out[name] = float(client.hget(keys.node_stats(name), "beat") or 0.0)
        groups = client.xinfo_groups(keys.results) if client.exists(keys.results) else []
        out["dispatcher"] = sum(int(g.get("entries-read") or 0) - int(g.get("pending") or 0)
                                for g in groups) if groups else 0
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        return None
    return out


@pytest.mark.parametrize("persistence", ["none", "aof"])
def test_r2_redis_restart(persistence, harness, tmp_path, small_dir):
    extra = ["--appendonly", "yes", "--appendfsync", "always"] if persistence == "aof" else []
    server = RedisServer(extra_args=extra).start()
    try:
        _run(server, persistence, harness, small_dir)
    finally:
        server.cleanup()


def _run(server, persistence, harness, small_dir):
    fps = 30
    seconds = size(12, 40)
    run = FleetRun(server.url, harness)
    keys = Keys(run.namespace)
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    workers = ["r2-w0", "r2-w1"]
    procs = [run.worker(n, "sleep:0.01", "--no-node-queue") for n in workers]
    procs.append(run.dispatcher())
    wait_until(lambda: all(client.exists(keys.node_alive(n)) for n in workers), 60, 0.1,
               "workers to heartbeat")
    tail = ResultTail(server.url, keys.results)
    tail.start()
    producer = run.producer("r2-prod", small_dir, "r2cam", fps, fps * seconds)
    procs.append(producer)
    time.sleep(seconds / 3.0)
    server.stop(kill=(persistence == "aof"))
    time.sleep(1.0)
    server.start()
    back = time.time()
    seen = {}  # process -> seconds after Redis answered until it showed life again
    base = None
    while time.time() - back < 15 and len(seen) < 2 + len(workers):
        act = _activity(client, keys, run, workers)
        if act is not None:
            base = base or act  # what survived the restart: progress is counted from here
            now = round(time.time() - back, 2)
            if act["producer"] > base["producer"]:
                seen.setdefault("producer", now)
            for name in workers:
                if act[name] > back:  # a heartbeat written after Redis came back
                    seen.setdefault(name, now)
            if act["dispatcher"] > base["dispatcher"]:
                seen.setdefault("dispatcher", now)
        time.sleep(0.05)
    assert producer.wait(seconds * 3 + 30) == 0, producer.log_tail()
    summary = _producer_summary(producer.log_text())
    wait_until(lambda: run.status()["totals"]["in_flight"] == 0, 30, 0.5, "in-flight to drain")
    time.sleep(0.5)
    tail.stop = True
    tail.join(5)
    status = run.status()
    totals = status["totals"]
    sent = summary.get("sent", 0)
    terminal = len(tail.records)
    figures("R2-%s" % persistence, reconnect_s=seen, sent=sent, seen_terminal=terminal,
            lost=sent - terminal, totals=totals,
            still_running=[p.name for p in procs if p.alive() and p is not producer])
    assert all(p.alive() for p in procs if p is not producer), [
        (p.name, p.log_tail(40)) for p in procs if not p.alive()]
    assert set(seen) == set(workers) | {"producer", "dispatcher"}, seen
    assert max(seen.values()) <= RECONNECT_PROMISE_S, seen
    assert status["invariant_ok"], totals
    if persistence == "aof":
        assert totals["produced"] == sent, "an accepted frame vanished from the counters"
        assert totals["failed_by_reason"].get("lost", 0) == 0, totals
        assert terminal == sent, "accepted frames without a terminal record"
    else:
        assert totals["produced"] <= sent
        # what Redis forgot is reported, not hidden: lost = sent - terminal records seen
        assert terminal <= sent


def _producer_summary(text):
    import json

    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}
