"""Two fleets on one Redis (namespaces fa: and fb:, both on the default queue name `frames`)
never take each other's frames: real producers, real workers, one real redis-server.

Seen before the fix: a worker of fa: read fb:'s frames too (10 read where its camera sent 5),
because the RQ queue names were not under the namespace.
"""
import time

from demo.fleet import Fleet


def node_frames(fleet, node):
    value = fleet.redis.hget(fleet.keys.node_stats(node), "frames")
    return int(value or 0)


def wait_frames(fleet, node, want, timeout=10.0):
    """The node's own frame count, once its heartbeat reported `want` (or the timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline and node_frames(fleet, node) != want:
        time.sleep(0.1)
    return node_frames(fleet, node)


def test_two_namespaces_on_one_redis_keep_their_frames(redis_url, tmp_path):
    env = {"ALPR_INFLIGHT_CAP": "100", "ALPR_MAX_FRAME_AGE_S": "120", "ALPR_HEARTBEAT_S": "0.2"}
    fa = Fleet(redis_url, "fa:", "frames", str(tmp_path), extra_env=env)
    fb = Fleet(redis_url, "fb:", "frames", str(tmp_path), extra_env=env)
    try:
        fa.start_worker("fa-node", engine="null")
        fa.wait_nodes(["fa-node"], timeout=60)
        fb.start_producer("producer-fb", "cam-b", "scenes", ["--fps", "0", "--frames", "10"])
        fa.start_producer("producer-fa", "cam-a", "scenes", ["--fps", "0", "--frames", "5"])
        assert fb.procs["producer-fb"].wait(60) == 0
        assert fa.procs["producer-fa"].wait(60) == 0
        acc_a = fa.wait_accounted(timeout=30, produced_at_least=5)
        time.sleep(1.5)  # a wrong worker would have taken fb's frames by now
        assert acc_a["produced"] == 5 and acc_a["read"] == 5 and acc_a["in_flight"] == 0, acc_a
        assert wait_frames(fa, "fa-node", 5) == 5  # it read its own 5, none of fb's 10
        acc_b = fb.accounting()
        assert acc_b["produced"] == 10 and acc_b["in_flight"] == 10, acc_b  # waiting for fb
        # fleet watch / status of each namespace see only their own queues
        from alpr.frame_store import FrameStore
        from dispatcher.fleet_watch import FleetWatch

        watch_a = FleetWatch(fa.redis, fa.keys, FrameStore(fa.redis, fa.keys), fa.keys.queue("frames"))
        assert all(name.startswith("fa:") for name in watch_a.queue_names()), watch_a.queue_names()
        watch_b = FleetWatch(fb.redis, fb.keys, FrameStore(fb.redis, fb.keys), fb.keys.queue("frames"))
        assert watch_b.queue_depths()[fb.keys.queue("frames")] == 10

        fb.start_worker("fb-node", engine="null")
        acc_b = fb.wait_accounted(timeout=60, produced_at_least=10)
        assert acc_b["read"] == 10 and acc_b["in_flight"] == 0, acc_b
        assert wait_frames(fb, "fb-node", 10) == 10 and node_frames(fa, "fa-node") == 5
    finally:
        fa.stop_all()
        fb.stop_all()
