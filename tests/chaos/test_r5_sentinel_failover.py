"""R5: Redis high availability: kill the Sentinel-monitored primary mid-run.

Real processes only: a primary, a replica and three `redis-server --sentinel`
(tests/sentinel_cluster.py); producer, 2 workers and the dispatcher all run on
`redis+sentinel://s1,s2,s3/mymaster/0`. A third of the way in the primary is SIGKILLed.
Each process must be seen working against the new primary within 10 s of the kill
(producer: new frames counted; worker: a heartbeat written; dispatcher: new results acked),
none may exit, and every frame the producer sent must end counted on the new primary
(what died with the old primary, unreplicated, is counted failed:lost, never silent).
"""
import json
import time

import redis

from alpr.keys import Keys
from bench.procs import wait_until
from chaos_helpers import FleetRun, crash_lines, figures, size
from sentinel_cluster import SentinelCluster

CARRY_ON_S = 10.0  # the promise: every process works against the new primary this soon after the kill


def _activity(client, keys, workers):
    try:
        out = {"producer": int(client.hget(keys.counts("r5cam"), "produced") or 0)}
        for name in workers:
            out[name] = float(client.hget(keys.node_stats(name), "beat") or 0.0)
        groups = client.xinfo_groups(keys.results) if client.exists(keys.results) else []
        out["dispatcher"] = sum(int(g.get("entries-read") or 0) - int(g.get("pending") or 0)
                                for g in groups)
        return out
    except (redis.exceptions.RedisError, OSError):
        return None


def test_r5_sentinel_failover(harness, small_dir):
    seconds = size(9, 40)
    fps = 20
    cluster = SentinelCluster().start()
    try:
        run = FleetRun(cluster.url, harness, env={"ALPR_JOB_TIMEOUT_S": "5"})
        keys = Keys(run.namespace)
        workers = ["r5-w0", "r5-w1"]
        procs = [run.worker(n, "sleep:0.02", "--no-node-queue") for n in workers]
        procs.append(run.dispatcher())
        old = cluster.client(cluster.primary_port)
        wait_until(lambda: all(old.exists(keys.node_alive(n)) for n in workers), 60, 0.1,
                   "workers to heartbeat")
        producer = run.producer("r5-prod", small_dir, "r5cam", fps, fps * seconds)
        time.sleep(seconds / 3.0)
        before = _activity(old, keys, workers)
        cluster.kill_primary()
        killed = time.time()
        failover_s = cluster.wait_failover()
        new = cluster.client(cluster.replica_port)
        seen, base = {}, None
        while time.time() - killed < CARRY_ON_S + 5 and len(seen) < 2 + len(workers):
            act = _activity(new, keys, workers)
            if act is not None:
                base = base or act  # what the new primary had at promotion
                now = round(time.time() - killed, 2)
                if act["producer"] > base["producer"]:
                    seen.setdefault("producer", now)
                for name in workers:
                    if act[name] > killed + failover_s:
                        seen.setdefault(name, now)
                if act["dispatcher"] > base["dispatcher"]:
                    seen.setdefault("dispatcher", now)
            time.sleep(0.05)
        assert producer.wait(seconds * 3 + 30) == 0, producer.log_tail()
        summary = json.loads(producer.log_text().strip().splitlines()[-1])
        wait_until(lambda: run.status()["totals"]["in_flight"] == 0, 60, 0.5, "in-flight to drain")
        status = run.status()
        totals = status["totals"]
        sent = summary["sent"]
        figures("R5-sentinel", seconds=seconds, failover_s=round(failover_s, 2),
                carried_on_after_kill_s=seen, sent=sent, produced=totals["produced"],
                uncounted=sent - totals["produced"], totals=totals,
                produced_at_kill=(before or {}).get("producer"),
                produced_on_new_primary_at_promotion=(base or {}).get("producer"))
        assert all(p.alive() for p in procs), [(p.name, p.log_tail(30)) for p in procs if not p.alive()]
        assert set(seen) == set(workers) | {"producer", "dispatcher"}, seen
        assert max(seen.values()) <= CARRY_ON_S, seen
        assert status["invariant_ok"], totals
        assert totals["produced"] >= sent, "frames sent but never counted: %d" % (sent - totals["produced"])
        assert not [line for p in procs for line in crash_lines(p)]
    finally:
        cluster.cleanup()
