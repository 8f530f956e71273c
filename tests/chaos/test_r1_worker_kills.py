"""R1: SIGKILL random workers again and again during a run; every frame still ends accounted.

4 workers (sleep engine, so kills land mid-frame), a paced producer, the dispatcher. A random
worker is killed with SIGKILL and restarted under the same node name (as systemd would).
Afterwards: produced = read + stale + dropped + failed, nothing in flight, every failure has a
reason, and no frame id has two terminal records (so no frame can make two plate events).
"""
import random
import time

import redis

from alpr.keys import Keys
from bench.probes import read_results
from bench.procs import wait_until
from chaos_helpers import FleetRun, figures, size

WORKERS = 4
SERVICE_S = 0.05  # sleep engine: 4 workers = ~80 frames/s capacity, busy most of the time


def test_r1_kill_random_workers(redis_url, harness, small_dir):
    frames = size(600, 5000)
    kills = size(3, 10)
    fps = size(60, 60)
    run = FleetRun(redis_url, harness)
    client = redis.Redis.from_url(redis_url)
    keys = Keys(run.namespace)
    names = ["r1-w%d" % i for i in range(WORKERS)]
    workers = {n: run.worker(n, "sleep:%g" % SERVICE_S, "--no-node-queue") for n in names}
    dispatcher = run.dispatcher()
    wait_until(lambda: all(client.exists(keys.node_alive(n)) for n in names), 60, 0.1,
               "workers to heartbeat")
    producer = run.producer("r1-prod", small_dir, "r1cam", fps, frames)
    duration = frames / float(fps)
    rng = random.Random(1)
    started = time.time()
    kill_log = []
    for i in range(kills):
        target = started + duration * (i + 1) / (kills + 1)
        time.sleep(max(0.0, target - time.time()))
        name = rng.choice(names)
        running = client.hlen(keys.running(name))
        workers[name].kill()
        workers[name].returncode = None  # restarted below: not a crash of ours
        workers[name].start()
        kill_log.append((name, running))
    assert producer.wait(duration * 3 + 60) == 0, producer.log_tail()

    def settled():
        acct = run.status()["totals"]
        return acct if acct["in_flight"] == 0 and acct["produced"] >= frames else None

    # dead node noticed after 3 missed heartbeats + the reaper's grace: well inside 30 s
    try:
        totals = wait_until(settled, 45, 0.5, "every frame to reach a terminal state")
    except TimeoutError:
        stuck = {n: client.hlen(keys.running(n)) for n in names}
        figures("R1", frames=frames, kills=kills, killed=kill_log, stuck_running=stuck,
                totals=run.status()["totals"], settled=False)
        raise AssertionError("frames stuck in flight: %s; running:{node} entries: %s; kills: %s"
                             % (run.status()["totals"], stuck, kill_log))
    status = run.status()
    records = [r for r in read_results(client, keys.results) if r.camera == "r1cam"]
    ids = [r.frame_id for r in records]
    failed = [r for r in records if r.status == "failed"]
    figures("R1", frames=frames, kills=kills, killed=kill_log, totals=totals,
            records=len(records), duplicate_ids=len(ids) - len(set(ids)),
            elapsed_s=round(time.time() - started, 1))
    assert status["invariant_ok"], status["totals"]
    assert totals["produced"] == frames
    assert totals["read"] + totals["stale"] + totals["dropped"] + totals["failed"] == frames
    assert len(ids) == len(set(ids)) == frames, "a frame has two (or no) terminal records"
    assert all(r.reason for r in failed), "a failure without a reason"
    assert all(r.status != "failed" or r.reason.split(":")[0] in ("node_lost", "lost")
               for r in records), set(r.reason for r in failed)
    assert dispatcher.alive() and all(w.alive() for w in workers.values())
    assert status["results"]["pending"] == 0 or wait_until(
        lambda: run.status()["results"]["pending"] == 0, 15, 0.5, "dispatcher to ack everything")
