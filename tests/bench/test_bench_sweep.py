"""`alpr bench sweep`: a camera's lost-frame sweep reads no queue, so its work does not grow
with the backlog (the same Redis commands beside 100 and 3,000 queued frames); real Redis."""
from click.testing import CliRunner

from bench.sweep import measure, sweep_cmd


def test_sweep_work_is_the_same_beside_a_short_and_a_long_queue(redis_url):
    res = measure(redis_url, small=100, large=3000, camera_frames=8, repeat=3)
    small, large = res["small"], res["large"]
    assert large["queued"] - small["queued"] == 2900
    assert small["redis_calls"] == large["redis_calls"], (small, large)
    assert not any(c in small["redis_calls"] for c in ("lrange", "lpos", "llen"))
    assert small["redis_calls"].get("evalsha", 0) + small["redis_calls"].get("eval", 0) == 2


def test_sweep_command_prints_the_ratio(redis_url):
    out = CliRunner().invoke(sweep_cmd, ["--redis-url", redis_url, "--small", "50", "--large",
                                         "200", "--repeat", "2", "--json"])
    assert out.exit_code == 0, out.output
    assert "ratio large/small p50" in out.output and '"ratio_p50"' in out.output
