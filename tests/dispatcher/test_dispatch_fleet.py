"""Fleet watch, reaper, drain and `alpr status` on a real redis-server."""
import json
import time

from click.testing import CliRunner

from alpr.cli import main
from alpr.protocol import FrameEnvelope
from dispatcher.fleet_watch import FleetWatch, drain, rq_queue_key, undrain
from dispatcher.status import camera_accounting
from helpers_dispatch import make_store, put_and_finish


def running_frame(store, keys, node, camera, ts, max_age_s, frame_id):
    """A frame a node claimed (its envelope sits in running:{node})."""
    env = FrameEnvelope(frame_id=frame_id, camera=camera, data=b"x", ts=ts, max_age_s=max_age_s)
    store.put(env)
    assert store.claim(env.frame_id, camera, node) is not None
    return env.frame_id


def test_dead_node_frames_are_requeued_or_failed_after_grace(redis_client):
    keys, store = make_store(redis_client)
    now = time.time()
    redis_client.sadd(keys.nodes, "n1", "n2")
    redis_client.set(keys.node_alive("n2"), 1, ex=30)
    fresh = running_frame(store, keys, "n1", "cam0", now, 30.0, "fresh")
    old = running_frame(store, keys, "n1", "cam0", now - 20, 10.0, "old")
    alive_frame = running_frame(store, keys, "n2", "cam0", now, 30.0, "alive")
    requeued = []
    fleet = FleetWatch(redis_client, keys, store, "frames", requeue_fn=requeued.extend, grace_s=3.0)
    assert fleet.tick(now=now) == {"requeued": 0, "node_lost": 0, "lost": 0, "forgotten": 0}
    assert fleet.tick(now=now + 3.5) == {"requeued": 1, "node_lost": 1, "lost": 0, "forgotten": 0}
    assert requeued == [(fresh, "cam0")]
    assert redis_client.exists(keys.frame(fresh))  # envelope back, ready for a new job
    assert redis_client.hlen(keys.running("n2")) == 1 and alive_frame
    counts = store.counts("cam0")
    assert counts["failed:node_lost"] == 1 and counts["produced"] == 3
    acc = camera_accounting(redis_client, keys)["cam0"]
    assert acc["in_flight"] == 2 and acc["invariant_ok"] and old


def test_vanished_frames_are_swept_as_lost(redis_client):
    keys, store = make_store(redis_client)
    env = FrameEnvelope(frame_id="gone", camera="cam0", data=b"x", ts=time.time(), max_age_s=1.0)
    store.put(env, now=time.time() - 100)  # older than max age + grace
    redis_client.delete(keys.frame("gone"))  # its key and job vanished
    fleet = FleetWatch(redis_client, keys, store, "frames", grace_s=1.0)
    assert fleet.tick()["lost"] == 1
    acc = camera_accounting(redis_client, keys)["cam0"]
    assert acc["failed_by_reason"] == {"lost": 1} and acc["invariant_ok"]


def test_nodes_queues_drain(redis_client):
    keys, store = make_store(redis_client)
    redis_client.sadd(keys.nodes, "n1")
    redis_client.set(keys.node_alive("n1"), 1, ex=5)
    redis_client.hset(keys.node_stats("n1"), mapping={"fps": "12.5", "frames": "40", "engine": "ort"})
    redis_client.rpush(rq_queue_key(keys.queue("frames")), "a", "b")
    redis_client.rpush(rq_queue_key(keys.node_queue("n1")), "c")
    from alpr.frame_jobs import enqueue_frames, job_queue

    # RQ registers every queue in one global set: a queue of the namespace shows, another
    # fleet's (namespace other:) on the same Redis does not
    enqueue_frames(job_queue(keys.queue("extra"), redis_client), [("e1", "c")])
    enqueue_frames(job_queue("other:frames", redis_client), [("o1", "c")])
    fleet = FleetWatch(redis_client, keys, store, keys.queue("frames"))
    assert drain(redis_client, keys, "n1") is True and drain(redis_client, keys, "n1") is False
    (node,) = fleet.nodes()
    assert node["alive"] and node["drained"] and node["stats"] == {"fps": 12.5, "frames": 40, "engine": "ort"}
    assert fleet.queue_depths() == {keys.queue("frames"): 2, keys.node_queue("n1"): 1,
                                    keys.queue("extra"): 1}
    assert undrain(redis_client, keys, "n1") is True
    assert fleet.nodes()[0]["drained"] is False


def test_status_cli_json_table_seen_and_fleet_drain(redis_url, redis_client):
    keys, store = make_store(redis_client)
    put_and_finish(store, "cam0", ["ABC1234"])
    put_and_finish(store, "cam0", [], status="failed", reason="bad_image: truncated")
    store.put(FrameEnvelope(frame_id="waiting", camera="cam0", data=b"x", max_age_s=30.0))
    redis_client.zadd(keys.recent("cam0"), {"ABC1234": time.time() - 5})
    redis_client.zadd(keys.recent(), {"ABC1234": time.time() - 5})
    runner = CliRunner()
    res = runner.invoke(main, ["status", "--json", "--redis-url", redis_url])
    assert res.exit_code == 0, res.output
    status = json.loads(res.output)
    cam = status["cameras"]["cam0"]
    assert (cam["produced"], cam["read"], cam["failed"], cam["in_flight"]) == (3, 1, 1, 1)
    assert cam["failed_by_reason"] == {"bad_image": 1} and status["invariant_ok"] is True
    res = runner.invoke(main, ["status", "--redis-url", redis_url])
    assert res.exit_code == 0 and "TOTAL" in res.output and "bad_image=1" in res.output
    res = runner.invoke(main, ["status", "--redis-url", redis_url, "--seen", "abc1234", "--within", "60"])
    assert res.exit_code == 0 and "seen" in res.output and "cam0" in res.output
    res = runner.invoke(main, ["status", "--redis-url", redis_url, "--seen", "ABC1234", "--within", "1"])
    assert res.exit_code == 1 and "not seen" in res.output
    res = runner.invoke(main, ["fleet", "drain", "n9", "--redis-url", redis_url])
    assert res.exit_code == 0 and redis_client.sismember(keys.drained(), "n9")
    res = runner.invoke(main, ["fleet", "undrain", "n9", "--redis-url", redis_url])
    assert res.exit_code == 0 and not redis_client.sismember(keys.drained(), "n9")


def _reconnect(server, keys):
    """A client and frame store on `server` (again after its restart)."""
    import redis

    from alpr.frame_store import FrameStore

    client = redis.Redis.from_url(server.url)
    return client, FrameStore(client, keys, results_maxlen=1000, max_age_s=30.0)


def test_frames_forgotten_by_a_restart_without_persistence_are_counted_lost(tmp_path):
    from alpr.keys import Keys
    from redis_server import RedisServer

    server = RedisServer().start()
    try:
        keys = Keys()
        client, store = _reconnect(server, keys)
        for i in range(3):
            store.put(FrameEnvelope(frame_id="before%d" % i, camera="cam0", data=b"x", max_age_s=30.0))
        put_and_finish(store, "cam0", ["ABC1234"])
        fleet = FleetWatch(client, keys, store, "frames")
        assert fleet.tick()["forgotten"] == 0  # snapshot: produced 4, 3 in flight
        server.restart()
        client, store = _reconnect(server, keys)
        fleet.redis, fleet.store = client, store
        store.put(FrameEnvelope(frame_id="after", camera="cam0", data=b"x", max_age_s=30.0))
        assert fleet.tick()["forgotten"] == 3
        acc = camera_accounting(client, keys)["cam0"]
        assert acc["produced"] == 4 and acc["failed_by_reason"] == {"lost": 3}
        assert acc["in_flight"] == 1 and acc["invariant_ok"]
        assert fleet.tick()["forgotten"] == 0  # counted once
        # with persistence nothing decreases, so nothing is added (see the e2e AOF restart)
    finally:
        server.cleanup()


def test_several_watchers_count_a_restart_without_persistence_once(tmp_path):
    """Two fleet watches (two `alpr fleet watch`, or one beside a dispatcher), each with its
    own snapshot: the frames the restart forgot are added back once, by whichever is first."""
    from alpr.keys import Keys
    from redis_server import RedisServer

    server = RedisServer().start()
    try:
        keys = Keys()
        client, store = _reconnect(server, keys)
        for i in range(3):
            store.put(FrameEnvelope(frame_id="before%d" % i, camera="cam0", data=b"x", max_age_s=30.0))
        watches = [FleetWatch(client, keys, store, "frames") for _ in range(2)]
        assert watches[0].tick()["forgotten"] == 0  # its snapshot: produced 3, 3 in flight
        for _ in range(2):  # finished frames raise produced, not the in-flight count
            put_and_finish(store, "cam0", ["ABC1234"])
        assert watches[1].tick()["forgotten"] == 0  # its snapshot: produced 5, 3 in flight
        assert [w.tick()["forgotten"] for w in watches] == [0, 0]
        server.restart()
        client, store = _reconnect(server, keys)
        store.put(FrameEnvelope(frame_id="after", camera="cam0", data=b"x", max_age_s=30.0))
        for w in watches:
            w.redis, w.store = client, store
        assert sum(w.tick()["forgotten"] for w in watches) == 3
        assert sum(w.tick()["forgotten"] for w in watches) == 0
        acc = camera_accounting(client, keys)["cam0"]
        assert acc["failed_by_reason"] == {"lost": 3}, acc  # not 6: one watcher counted
        assert acc["produced"] == 4 and acc["in_flight"] == 1 and acc["invariant_ok"]
    finally:
        server.cleanup()


def test_alive_but_stuck_node_has_its_overdue_frames_failed_as_timeout(redis_client):
    """A node that heartbeats while its engine is stuck: frames it held past the hold limit
    (job timeout + grace) are failed `timeout`; its late finish then counts nothing."""
    from alpr.protocol import ResultRecord

    keys, store = make_store(redis_client)
    now = time.time()
    redis_client.sadd(keys.nodes, "n1")
    redis_client.set(keys.node_alive("n1"), 1, ex=30)
    stuck = running_frame(store, keys, "n1", "cam0", now, 300.0, "stuck")
    recent = running_frame(store, keys, "n1", "cam0", now, 300.0, "recent")
    redis_client.hset(keys.running("n1"), stuck, repr(now - 20))  # claimed 20 s ago
    fleet = FleetWatch(redis_client, keys, store, "frames", requeue_fn=lambda f: None,
                       grace_s=3.0, hold_limit_s=12.0)
    fleet.tick(now=now)
    counts = store.counts("cam0")
    assert counts.get("failed:timeout") == 1 and fleet.stats["timeout"] == 1
    assert not redis_client.hexists(keys.running("n1"), stuck)
    assert redis_client.hexists(keys.running("n1"), recent)  # still within the limit: its own
    late = ResultRecord(frame_id=stuck, camera="cam0", status="read", node="n1")
    assert not store.finish(late, node="n1")  # the stuck node's late answer: not counted twice
    assert camera_accounting(redis_client, keys)["cam0"]["invariant_ok"]
