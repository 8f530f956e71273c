"""The fleet watch on its own: with no dispatcher running, `alpr fleet watch` alone hands back the
frame of a node killed mid-frame. Two watchers run at once (it must be safe): each frame is
re-queued once and read once. Real redis-server, real worker and watcher processes."""
import time

from alpr.protocol import decode_result
from test_e2e_node_death import REAP_DEADLINE_S, feed, kill_mid_frame


def records(fleet):
    out = {}
    for _, fields in fleet.redis.xrange(fleet.keys.results):
        rec = decode_result(fields)
        out.setdefault(rec.frame_id, []).append(rec)
    return out


def test_fleet_watch_alone_reaps_a_node_killed_mid_frame(redis_url, make_fleet):
    fleet = make_fleet(redis_url)
    fleet.start_worker("victim", engine="sleep:2", extra=["--batch-max", "1"])
    fleet.wait_nodes(["victim"], timeout=60)
    watchers = [fleet.spawn(name, ["fleet", "watch"]) for name in ("watch-a", "watch-b")]
    ids = feed(fleet, 4)
    running_key = fleet.keys.running("victim")
    held, killed_at = kill_mid_frame(fleet, "victim")

    while time.time() < killed_at + REAP_DEADLINE_S + 5 and fleet.redis.hlen(running_key):
        time.sleep(0.05)
    reaped_after = time.time() - killed_at
    assert not any(name.startswith("dispatch") for name in fleet.procs)  # nobody else reaps
    assert all(w.poll() is None for w in watchers), "a fleet watch exited"
    assert fleet.redis.hlen(running_key) == 0, "no one handed the killed node's frame back"
    assert reaped_after <= REAP_DEADLINE_S, "reaped after %.1f s" % reaped_after
    for frame_id in held:  # handed back: its key again, with a job (no worker runs now)
        assert fleet.redis.exists(fleet.keys.frame(frame_id)), frame_id
        assert frame_id not in records(fleet), frame_id

    fleet.start_worker("survivor", engine="sleep:0.01")
    acc = fleet.wait_accounted(timeout=60, produced_at_least=len(ids))
    assert acc["in_flight"] == 0 and acc["invariant_ok"], acc
    assert acc["produced"] == len(ids) == acc["read"], acc
    done = records(fleet)
    assert sorted(done) == sorted(ids)
    for frame_id in ids:  # one record each: two watchers re-queued nothing twice into a count
        assert len(done[frame_id]) == 1 and done[frame_id][0].status == "read", done[frame_id]
    for frame_id in held:
        assert done[frame_id][0].node == "survivor"
    print("fleet watch alone (2 watchers) -> frames reaped after %.2f s" % reaped_after)
