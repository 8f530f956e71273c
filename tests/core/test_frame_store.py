"""FrameStore on a real redis-server: every transition counted once, invariant under races."""
import random
import threading
import time
import uuid

import pytest

from alpr.frame_store import FrameStore, counter_field, reason_class
from alpr.keys import Keys
from alpr.protocol import (
    STATUS_FAILED,
    STATUS_READ,
    STATUS_STALE,
    FrameEnvelope,
    ResultRecord,
    decode_frame,
    decode_result,
)


def make_env(camera="cam1", max_age=5.0, ts=None, data=b"jpeg"):
    return FrameEnvelope(frame_id=uuid.uuid4().hex, camera=camera, data=data,
                         ts=time.time() if ts is None else ts, max_age_s=max_age)


def results(client, keys):
    return [decode_result(fields) for _, fields in client.xrange(keys.results)]


def assert_invariant(store, camera):
    acc = store.accounting(camera)
    terminal = acc["read"] + acc["stale"] + acc["dropped"] + acc["failed"]
    assert acc["produced"] == terminal + acc["in_flight"], acc
    return acc


@pytest.fixture
def store(redis_client):
    return FrameStore(redis_client, Keys("t:"), results_maxlen=10000)


def test_reason_class_is_short_and_safe():
    assert reason_class("bad_image: truncated JPEG") == "bad_image"
    assert reason_class("Node Lost!") == "node_lost"
    assert reason_class("") == "error"
    rec = ResultRecord(frame_id="f", camera="c", status=STATUS_FAILED, reason="timeout: 60 s")
    assert counter_field(rec) == "failed:timeout"


def test_put_claim_finish_counts_once(store, redis_client):
    keys = store.keys
    env = make_env()
    store.put(env)
    assert redis_client.ttl(keys.frame(env.frame_id)) > 0
    assert store.in_flight("cam1") == 1
    assert store.cameras() == ["cam1"]
    payload = store.claim(env.frame_id, "cam1", "n1")
    assert decode_frame(payload).frame_id == env.frame_id
    assert not redis_client.exists(keys.frame(env.frame_id))
    assert redis_client.hexists(keys.running("n1"), env.frame_id)
    from alpr.frame_store import HELD_ELSEWHERE

    assert store.claim(env.frame_id, "cam1", "n2") is HELD_ELSEWHERE  # n1 has it: not n2's
    assert redis_client.exists(keys.held(env.frame_id))  # the body, renamed, not copied
    rec = ResultRecord(frame_id=env.frame_id, camera="cam1", status=STATUS_READ, node="n1",
                       reads=[{"text": "ABC1234"}])
    assert store.finish(rec, node="n1") is True
    assert store.finish(rec, node="n1") is False  # idempotent: never counted twice
    assert not redis_client.hexists(keys.running("n1"), env.frame_id)
    assert store.counts("cam1") == {"produced": 1, "read": 1}
    got = results(redis_client, keys)
    assert len(got) == 1 and got[0].reads == [{"text": "ABC1234"}]
    assert_invariant(store, "cam1")


def test_put_same_id_twice_counts_produced_once(store):
    env = make_env()
    store.put(env)
    store.put(env)
    assert store.counts("cam1")["produced"] == 1


def test_put_runs_queue_fn_in_same_transaction(store, redis_client):
    env = make_env()
    store.put(env, queue_job_fn=lambda pipe: pipe.rpush("t:q", env.frame_id))
    assert redis_client.lrange("t:q", 0, -1) == [env.frame_id.encode()]


def test_failed_reason_counter_and_stale(store, redis_client):
    a, b = make_env(), make_env()
    store.put(a)
    store.put(b)
    store.finish(ResultRecord(frame_id=a.frame_id, camera="cam1", status=STATUS_FAILED,
                              reason="bad_image: not a JPEG"))
    store.finish(ResultRecord(frame_id=b.frame_id, camera="cam1", status=STATUS_STALE,
                              reason="expired"))
    assert store.counts("cam1") == {"produced": 2, "failed:bad_image": 1, "stale": 1}
    # finishing an unclaimed frame also removes its key, so no worker can process it later
    assert not redis_client.exists(store.keys.frame(a.frame_id))
    assert_invariant(store, "cam1")


def test_drop_oldest_skips_claimed_and_writes_records(store, redis_client):
    envs = [make_env() for _ in range(6)]
    for i, env in enumerate(envs):
        store.put(env, now=1000.0 + i)
    store.claim(envs[0].frame_id, "cam1", "n1")  # oldest is running: skipped, not counted
    dropped = store.drop_oldest("cam1", cap=3, now=2000.0)
    assert dropped == [envs[1].frame_id, envs[2].frame_id]  # 5 waiting -> 3
    assert store.in_flight("cam1") == 4
    assert store.counts("cam1")["dropped"] == 2
    recs = results(redis_client, store.keys)
    assert [r.frame_id for r in recs] == dropped
    assert all(r.status == "dropped" and r.reason == "backpressure" for r in recs)
    assert recs[0].ts == 1001.0 and recs[0].done == 2000.0 and recs[0].reads == []
    assert store.drop_oldest("cam1", cap=3) == []
    assert_invariant(store, "cam1")


def test_requeue_node_fresh_and_stale(store, redis_client):
    fresh, old = make_env(max_age=5.0), make_env(max_age=5.0, ts=time.time() - 10)
    for env in (fresh, old):
        store.put(env)
        store.claim(env.frame_id, "cam1", "dead")
    requeued, failed = store.requeue_node("dead")
    assert requeued == [(fresh.frame_id, "cam1")]
    assert failed == [old.frame_id]
    assert redis_client.pttl(store.keys.frame(fresh.frame_id)) > 0  # ready to claim again
    assert redis_client.hlen(store.keys.running("dead")) == 0
    assert store.counts("cam1")["failed:node_lost"] == 1
    rec = [r for r in results(redis_client, store.keys) if r.frame_id == old.frame_id][0]
    assert rec.status == STATUS_FAILED and rec.reason.startswith("node_lost")
    # a second reaper pass finds nothing; the slow node finishing late is not counted again
    assert store.requeue_node("dead") == ([], [])
    late = ResultRecord(frame_id=old.frame_id, camera="cam1", status=STATUS_READ)
    assert store.finish(late, node="dead") is False
    assert_invariant(store, "cam1")


def test_sweep_lost_only_unheld(store, redis_client):
    redis_client.sadd(store.keys.nodes, "n1")
    now = time.time()
    gone, running, queued, young = (make_env() for _ in range(4))
    for env in (gone, running, queued):
        store.put(env, now=now - 100)
    store.put(young, now=now)
    redis_client.delete(store.keys.frame(gone.frame_id))  # e.g. Redis restarted, job vanished
    store.claim(running.frame_id, "cam1", "n1")
    redis_client.delete(store.keys.frame(young.frame_id))
    lost = store.sweep_lost("cam1", now=now, grace=3.0)
    assert lost == [gone.frame_id]
    assert store.counts("cam1")["failed:lost"] == 1
    assert store.in_flight("cam1") == 3
    assert_invariant(store, "cam1")


def test_invariant_under_concurrent_races(redis_url):
    """Producers with backpressure, workers, a reaper and a sweeper race; nothing double-counts."""
    import redis

    keys = Keys("race:")
    cameras = ["c0", "c1"]
    stop = threading.Event()
    errors = []

    def client():
        return redis.Redis.from_url(redis_url)

    def producer(camera):
        st = FrameStore(client(), keys)
        try:
            for i in range(300):
                env = make_env(camera=camera, max_age=0.5 if i % 7 == 0 else 5.0)
                st.put(env, queue_job_fn=lambda p, e=env: p.rpush("race:q", "%s|%s" % (
                    e.frame_id, e.camera)))
                st.drop_oldest(camera, cap=5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def worker(node):
        c = client()
        st = FrameStore(c, keys)
        rng = random.Random(node)
        try:
            while not stop.is_set() or c.llen("race:q"):
                item = c.lpop("race:q")
                if item is None:
                    time.sleep(0.001)
                    continue
                frame_id, camera = item.decode().split("|")
                payload = st.claim(frame_id, camera, node)
                if payload is None:
                    st.finish(ResultRecord(frame_id=frame_id, camera=camera,
                                           status=STATUS_STALE, reason="expired"), node)
                    continue
                if rng.random() < 0.05:
                    continue  # "dies" mid-frame: left in running:{node} for the reaper
                time.sleep(0.003)  # "inference": producers outpace workers, so drops happen
                status = STATUS_READ if rng.random() < 0.9 else STATUS_FAILED
                st.finish(ResultRecord(frame_id=frame_id, camera=camera, status=status,
                                       reason="engine: boom"), node)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    def reaper():
        c = client()
        st = FrameStore(c, keys)
        while not stop.is_set():
            for node in ("w0", "w1", "w2"):
                for frame_id, camera in st.requeue_node(node)[0]:
                    c.rpush("race:q", "%s|%s" % (frame_id, camera))
            time.sleep(0.005)

    threads = [threading.Thread(target=producer, args=(cam,)) for cam in cameras]
    workers = [threading.Thread(target=worker, args=("w%d" % i,)) for i in range(3)]
    reap = threading.Thread(target=reaper)
    client().sadd(keys.nodes, "w0", "w1", "w2")
    for t in threads + workers + [reap]:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)
    stop.set()
    for t in workers + [reap]:
        t.join()
    assert errors == []
    st = FrameStore(client(), keys)
    for node in ("w0", "w1", "w2"):  # final reap: everything left goes back or fails
        st.requeue_node(node, now=time.time() + 60)
    totals = {"dropped": 0, "read": 0}
    for cam in cameras:
        st.sweep_lost(cam, now=time.time() + 60, grace=0)
        acc = assert_invariant(st, cam)
        assert acc["produced"] == 300
        assert acc["in_flight"] == 0
        totals["dropped"] += acc["dropped"]
        totals["read"] += acc["read"]
    assert totals["dropped"] > 0 and totals["read"] > 0  # the race really exercised both paths
    # one result record per frame, never two
    ids = [r.frame_id for r in results(client(), keys)]
    assert len(ids) == len(set(ids)) == 600


def test_sweep_leaves_frames_whose_job_still_waits_to_the_worker(store, redis_client):
    """A backlog: the key expired but the RQ job (id = frame id) is queued -> stale later, not lost."""
    from rq.job import Job

    now = time.time()
    queued, orphan = make_env(), make_env()
    store.put(queued, now=now - 20)
    store.put(orphan, now=now - 200)
    for env in (queued, orphan):
        redis_client.delete(store.keys.frame(env.frame_id))
        redis_client.hset(Job.redis_job_namespace_prefix + env.frame_id, "status", "queued")
    assert store.sweep_lost("cam1", now=now, grace=3.0, queued_hold_s=60.0,
                            job_prefix=Job.redis_job_namespace_prefix) == [orphan.frame_id]
    assert store.in_flight("cam1") == 1
    assert store.sweep_lost("cam1", now=now, grace=3.0, job_prefix="") == [queued.frame_id]
    assert_invariant(store, "cam1")


def test_cap_counts_only_waiting_frames_so_the_newest_is_kept(store, redis_client):
    """Seen: with `cap` frames claimed, every put dropped the frame it had just stored.
    Now claimed frames do not count: the newest frame is kept, the oldest waiting dropped."""
    cap = 2
    claimed = [make_env() for _ in range(cap)]
    for i, env in enumerate(claimed):
        assert store.put(env, now=1000.0 + i, cap=cap) == []
        store.claim(env.frame_id, "cam1", "n1")
    waiting = [make_env() for _ in range(4)]
    dropped = []
    for i, env in enumerate(waiting):
        dropped.extend(store.put(env, now=1010.0 + i, cap=cap))
        assert redis_client.exists(store.keys.frame(env.frame_id)), "the newest frame was dropped"
    assert dropped == [waiting[0].frame_id, waiting[1].frame_id]  # oldest waiting ones
    for env in claimed:  # a worker's frames are never touched by the cap
        assert redis_client.exists(store.keys.held(env.frame_id))
    assert store.in_flight("cam1") == cap + cap
    assert_invariant(store, "cam1")


def test_claim_retry_gets_own_frame_and_duplicate_job_sees_it_held(store, redis_client):
    from alpr.frame_store import HELD_ELSEWHERE

    keys = store.keys
    redis_client.sadd(keys.nodes, "n1", "n2")
    env = make_env()
    store.put(env)
    first = store.claim(env.frame_id, "cam1", "n1")
    assert decode_frame(first).frame_id == env.frame_id
    assert store.claim(env.frame_id, "cam1", "n1") == first  # a retry after a lost reply
    assert store.claim(env.frame_id, "cam1", "n2") is HELD_ELSEWHERE  # a duplicate job
    rec = ResultRecord(frame_id=env.frame_id, camera="cam1", status=STATUS_READ, node="n1")
    assert store.finish(rec, node="n1") is True
    assert store.claim(env.frame_id, "cam1", "n2") is None  # done: the key is simply gone
    assert_invariant(store, "cam1")


def test_requeue_node_race_leaves_a_taken_frame_alone(store, redis_client):
    """Two reapers (dispatcher and a restarted worker): the loser neither requeues nor fails it."""
    env = make_env(max_age=30.0)
    store.put(env)
    store.claim(env.frame_id, "cam1", "dead")
    entry = redis_client.hgetall(store.keys.running("dead"))
    assert store.requeue_node("dead") == ([(env.frame_id, "cam1")], [])
    redis_client.hset(store.keys.running("dead"), mapping=entry)  # the loser's stale view
    redis_client.zrem(store.keys.inflight("cam1"), env.frame_id)  # ...of a frame now terminal
    assert store.requeue_node("dead") == ([], [])
    assert "failed:node_lost" not in store.counts("cam1")


def test_requeue_orphans_finds_stored_frames_whose_job_vanished(store, redis_client):
    """Frames whose job left its queue without a claim are found without reading the queues
    (only their heads): a drain pop removes the frame's queued mark; RQ's blocking pop leaves
    a mark numbered before the queue's new head (lists are FIFO)."""
    from worker.drain import Drainer
    from alpr.frame_jobs import enqueue_frames, enqueue_requeued, job_queue

    keys = store.keys
    queue = job_queue(keys.queue("frames"), redis_client)
    redis_client.sadd(keys.nodes, "n1")
    now = time.time()
    drained, popped, queued, requeued, running, expired, young = (
        make_env(max_age=60.0) for _ in range(7))
    for env in (drained, popped, queued, requeued, running, expired, young):
        store.put(env, now=now if env is young else now - 3, queue_key=queue.key,
                  queue_job_fn=lambda pipe, e=env: enqueue_frames(
                      queue, [(e.frame_id, e.camera)], pipeline=pipe, job_id=e.frame_id))
    assert redis_client.hlen(keys.queued) == 7  # each put marked its frame queued
    # a worker's drain took `drained`, RQ's BLPOP took `popped`: both died before the claim
    assert Drainer(redis_client, keys.queued).pop([keys.queue("frames")]).job_id == drained.frame_id
    assert redis_client.lpop(queue.key).decode() == popped.frame_id
    assert store.claim(running.frame_id, "cam1", "n1") is not None  # on a node
    store.claim(requeued.frame_id, "cam1", "dead")
    back, _ = store.requeue_node("dead")
    enqueue_requeued(queue, back, store)  # a new job at the tail, marked with it
    redis_client.delete(keys.frame(expired.frame_id))  # sweep_lost's case, not this one
    assert store.requeue_orphans("cam1", now=now, after_s=1.0) == []  # first sighting
    assert store.requeue_orphans("cam1", now=now + 0.5, after_s=1.0) == []
    found = store.requeue_orphans("cam1", now=now + 1.2, after_s=1.0)
    assert sorted(found) == sorted([drained.frame_id, popped.frame_id])
    enqueue_requeued(queue, [(f, "cam1") for f in found], store)  # as the dispatcher does
    assert store.requeue_orphans("cam1", now=now + 2.5, after_s=1.0) == []
    assert store.in_flight("cam1") == 7  # nothing counted: the caller enqueues jobs again
    assert_invariant(store, "cam1")
    # every terminal transition clears the mark: it stays as small as the in-flight set
    for env in (drained, popped, queued, requeued, young):
        store.finish(ResultRecord(frame_id=env.frame_id, camera="cam1", status="read"))
    store.sweep_lost("cam1", now=now + 600, grace=0)
    assert redis_client.hlen(keys.queued) == 0, redis_client.hgetall(keys.queued)


def test_claimed_body_is_renamed_not_copied_and_never_leaks(store, redis_client):
    """claim renames frame:{id} to held:{id}; a finish drops it, a reaper renames it back."""
    keys = store.keys
    done, dead = make_env(max_age=30.0), make_env(max_age=30.0)
    for env in (done, dead):
        store.put(env)
    store.claim(done.frame_id, "cam1", "n1")
    store.claim(dead.frame_id, "cam1", "dead")
    for env in (done, dead):
        assert redis_client.ttl(keys.held(env.frame_id)) == -1  # no TTL while held
    assert abs(float(redis_client.hget(keys.running("n1"), done.frame_id)) - time.time()) < 5
    record = ResultRecord(frame_id=done.frame_id, camera="cam1", status="read", node="n1")
    assert store.finish(record, node="n1")
    assert not redis_client.exists(keys.held(done.frame_id))
    assert store.requeue_node("dead") == ([(dead.frame_id, "cam1")], [])
    assert not redis_client.exists(keys.held(dead.frame_id))
    assert 0 < redis_client.pttl(keys.frame(dead.frame_id)) <= 30000  # back, with its age left
    assert decode_frame(store.claim(dead.frame_id, "cam1", "n2")).frame_id == dead.frame_id
    assert_invariant(store, "cam1")


def test_frames_held_past_the_hold_limit_fail_as_timeout(store, redis_client):
    """A frame a node held past the limit sat in a stuck engine: failed `timeout`, never
    re-queued (a frame that hangs engines must not hop from node to node); a frame held
    briefly by a dead node goes back as before."""
    keys = store.keys
    stuck, fresh = make_env(max_age=300.0), make_env(max_age=300.0)
    for env in (stuck, fresh):
        store.put(env)
    store.claim(stuck.frame_id, "cam1", "n1")
    store.claim(fresh.frame_id, "cam1", "n1")
    now = time.time()
    assert store.held_since("n1")[stuck.frame_id] == pytest.approx(now, abs=5)
    redis_client.hset(keys.running("n1"), stuck.frame_id, repr(now - 40))  # claimed 40 s ago
    requeued, failed = store.requeue_node("n1", now=now, hold_limit_s=30.0)
    assert requeued == [(fresh.frame_id, "cam1")] and failed == [stuck.frame_id]
    assert store.counts("cam1").get("failed:timeout") == 1
    assert_invariant(store, "cam1")
