"""kill -9 a worker mid-frame: the dispatcher re-queues or fails its frames within 10 s; invariant holds."""
import time

from alpr.protocol import decode_result

REAP_DEADLINE_S = 10.0  # the promise (RQ's own maintenance pass would take 600 s)


def feed(fleet, count, camera="cam-kill", max_age_s=60.0):
    """Enqueue frames exactly as the producer does (tests/enqueue.py: FrameSender.put)."""
    from enqueue import put_frames

    return put_frames(fleet.redis, fleet.keys, count, camera=camera,
                      queue=fleet.keys.queue(fleet.queue), max_age=max_age_s, id_len=12)


def kill_mid_frame(fleet, node):
    """SIGKILL `node` once it holds a frame; (the frame ids it held, when it was killed)."""
    running_key = fleet.keys.running(node)
    deadline = time.time() + 20
    while time.time() < deadline and not fleet.redis.hlen(running_key):
        time.sleep(0.02)
    held = sorted(k.decode() for k in fleet.redis.hkeys(running_key))
    assert held, "%s never started a frame" % node
    fleet.kill(node)
    return held, time.time()


def terminal(fleet):
    return {r.frame_id: r for r in (decode_result(f) for _, f in fleet.redis.xrange(fleet.keys.results))}


def test_kill_9_worker_mid_frame(redis_url, make_fleet):
    fleet = make_fleet(redis_url)
    # the victim holds each frame 2 s, so it is surely mid-frame when killed
    fleet.start_worker("victim", engine="sleep:2", extra=["--batch-max", "1"])
    fleet.wait_nodes(["victim"], timeout=60)
    fleet.start_dispatcher()
    ids = feed(fleet, 6)
    running_key = fleet.keys.running("victim")
    held, killed_at = kill_mid_frame(fleet, "victim")
    fleet.start_worker("survivor", engine="sleep:0.01")

    while time.time() < killed_at + REAP_DEADLINE_S + 5 and fleet.redis.hlen(running_key):
        time.sleep(0.05)
    reaped_after = time.time() - killed_at
    assert fleet.redis.hlen(running_key) == 0
    assert reaped_after <= REAP_DEADLINE_S, "reaped after %.1f s" % reaped_after
    # each held frame was re-queued (a fresh key and a job again; the survivor may already
    # have claimed it) or answered failed:node_lost
    for frame_id in held:
        requeued = fleet.redis.exists(fleet.keys.frame(frame_id)) or fleet.redis.hexists(
            fleet.keys.running("survivor"), frame_id)
        done = terminal(fleet).get(frame_id)
        assert requeued or done is not None, frame_id

    acc = fleet.wait_accounted(timeout=60, produced_at_least=len(ids))
    results = terminal(fleet)
    assert acc["in_flight"] == 0 and acc["invariant_ok"], acc
    assert acc["produced"] == len(ids) == len(results)
    for frame_id in held:  # the re-queued frames were finished by the survivor
        assert results[frame_id].status == "read" and results[frame_id].node == "survivor" or \
            results[frame_id].reason.startswith("node_lost"), results[frame_id]
    print("kill -9 -> frames reaped after %.2f s" % reaped_after)
