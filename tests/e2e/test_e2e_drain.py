"""Load balancing on real workers: a drained node takes no shared work, a pinned camera still reaches it."""
import collections
import time

from click.testing import CliRunner

from alpr.cli import main
from alpr.protocol import decode_result


def nodes_by_camera(fleet):
    out = collections.defaultdict(collections.Counter)
    for _, fields in fleet.redis.xrange(fleet.keys.results):
        rec = decode_result(fields)
        out[rec.camera][rec.node] += 1
    return out


def test_drain_and_pinning(redis_url, make_fleet):
    fleet = make_fleet(redis_url)
    for name in ("d1", "d2"):
        fleet.start_worker(name, engine="sleep:0.01")
    fleet.wait_nodes(["d1", "d2"], timeout=60)
    runner = CliRunner()
    res = runner.invoke(main, ["fleet", "drain", "d1", "--redis-url", redis_url,
                               "--namespace", fleet.namespace])
    assert res.exit_code == 0 and "drained" in res.output
    time.sleep(2.5)  # the node notices at its next heartbeat / dequeue poll
    fleet.start_producer("producer-shared", "shared-cam", "scenes",
                         ["--fps", "0", "--frames", "20", "--max-age", "60"])
    fleet.start_producer("producer-pinned", "pinned-cam", "scenes",
                         ["--fps", "0", "--frames", "10", "--max-age", "60", "--node", "d1"])
    for name in ("producer-shared", "producer-pinned"):
        assert fleet.procs[name].wait(60) == 0
    acc = fleet.wait_accounted(timeout=60, produced_at_least=30)
    assert acc["produced"] == 30 and acc["in_flight"] == 0 and acc["invariant_ok"], acc
    seen = nodes_by_camera(fleet)
    assert seen["shared-cam"] == collections.Counter({"d2": 20}), seen
    assert seen["pinned-cam"] == collections.Counter({"d1": 10}), seen

    res = runner.invoke(main, ["status", "--json", "--redis-url", redis_url,
                               "--namespace", fleet.namespace])
    assert res.exit_code == 0
    import json

    status = json.loads(res.output)
    nodes = {n["name"]: n for n in status["nodes"]}
    assert nodes["d1"]["drained"] and nodes["d1"]["alive"] and not nodes["d2"]["drained"]
    keys = fleet.keys  # RQ queue names are under the namespace
    assert {keys.queue(fleet.queue), keys.node_queue("d1"), keys.node_queue("d2")} <= set(status["queues"])
    assert status["invariant_ok"]
