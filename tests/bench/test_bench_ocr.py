"""`alpr bench ocr` on generated US scenes: every stage of the line reader is timed."""
import json

from click.testing import CliRunner

from alpr.cli import main
from evaluation.scenes import write_scenes


def test_bench_ocr_times_locator_and_recogniser_stages(tmp_path):
    folder = str(tmp_path / "us")  # US plates are 2:1: they go through the line locator
    write_scenes(folder, 3, seed=3, region="us")
    result = CliRunner().invoke(main, ["bench", "ocr", folder, "--repeat", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["plates"] >= 1 and 1 <= summary["frames"] <= 3  # frames with a plate
    stages = summary["stages"]
    assert {"loc_tensor", "loc_model", "loc_post", "rec_tensor", "rec_model"} <= set(stages)
    assert 1 <= stages["loc_model"]["calls"] <= summary["plates"]  # at most one a plate
    assert 0 < stages["loc_model"]["median_ms"] < summary["ocr_ms_per_plate"] * 1.01
    assert sum(summary["line_widths"].values()) == stages["rec_tensor"]["calls"]
    assert summary["locator_height"] == 128
