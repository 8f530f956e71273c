"""`alpr bench queue` and `alpr bench fleet` on a tiny scale: real processes, JSON keys and
sane values (figures only; no timing limits here, the numbers come from the full runs)."""
import json
import shutil

import pytest
from click.testing import CliRunner

from alpr.cli import main

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None or
                                shutil.which("redis-benchmark") is None,
                                reason="redis-server / redis-benchmark not installed")


def _last_json(output):
    return json.loads(output.strip().splitlines()[-1])


def test_bench_queue_reports_latency_throughput_and_node_budget():
    result = CliRunner().invoke(main, ["bench", "queue", "--frames", "60", "--rate", "30",
                                       "--seconds", "1.5", "--frame-kb", "20", "--json"])
    assert result.exit_code == 0, result.output
    out = _last_json(result.stdout)
    for key in ("frames_per_s", "overhead_ms_p50", "overhead_ms_p99", "redis_floor_ms",
                "node_overhead_ms_p50", "node_overhead_ms_p99", "node_budget_fraction"):
        assert out[key] is not None, key
    assert out["frames_per_s"] > 0 and 0 < out["overhead_ms_p50"] <= out["overhead_ms_p99"]
    assert 0 <= out["node_overhead_ms_p50"] <= out["node_overhead_ms_p99"]
    # the hand-off floor ran beside it: every paced frame arrived, and the difference is given
    assert out["handoff_frames"] == 45 and out["handoff_list_frames"] == 45
    assert 0 < out["handoff_floor_ms_p50"] <= out["handoff_floor_ms_p99"]
    assert 0 < out["handoff_list_floor_ms_p50"] <= out["handoff_list_floor_ms_p99"]
    assert out["overhead_above_floor_ms_p50"] == round(
        out["overhead_ms_p50"] - out["handoff_floor_ms_p50"], 3)
    assert out["node_frames"] >= 20 and out["crashed"] == []
    for phase in ("latency_accounting", "throughput_accounting"):
        acct = out[phase]  # every frame accounted, none lost
        assert acct["produced"] == acct["read"] + acct["stale"] + acct["dropped"] + \
            acct["failed"] + acct["in_flight"] and acct["in_flight"] == 0


def test_bench_fleet_rows_have_the_issue_keys():
    result = CliRunner().invoke(main, ["bench", "fleet", "--nodes", "1,2", "--seconds", "2",
                                       "--warmup", "1", "--frame-kb", "10", "--json"])
    assert result.exit_code == 0, result.output
    out = _last_json(result.stdout)
    assert [r["nodes"] for r in out["rows"]] == [1, 2]
    for row in out["rows"]:
        assert {"nodes", "fps", "efficiency", "p50_ms", "p99_ms"} <= set(row)
        assert row["fps"] > 0 and 0 < row["efficiency"] <= 1.2 and row["crashed"] == []
