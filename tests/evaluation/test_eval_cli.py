"""`alpr eval` and `alpr scenes` through click's CliRunner with the default models."""
import json

import pytest
from click.testing import CliRunner

from alpr.cli import main

pytest.importorskip("rapidocr", reason="default models (platedet/rapidocr wheels) not installed")

KEYS = {"images", "detected", "exact", "exact_located", "detection_recall", "exact_rate",
        "median_ms", "misses", "confusions", "suspected_labels", "suspected_label_errors",
        "ocr_ms_per_plate", "plate_regions"}


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scenes") / "br")
    result = CliRunner().invoke(main, ["scenes", out, "--count", "5", "--seed", "3", "--region", "br"])
    assert result.exit_code == 0, result.output
    assert "wrote 5 scenes" in result.stdout
    return out


def test_eval_on_generated_scenes_reads_plates(scenes_dir):
    result = CliRunner().invoke(main, ["eval", scenes_dir, "--json", "--intra-op-threads", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert KEYS <= set(summary)
    assert summary["images"] == 5
    assert summary["detected"] >= 4 and summary["exact"] >= 3  # the default models read them
    assert {"decode", "det_infer", "ocr_infer", "total"} <= set(summary["median_ms"])
    assert lines[0].startswith("region") and any(l.startswith("all") for l in lines)
    assert "eval" in result.stderr  # the progress bar goes to stderr
    assert summary["plate_regions"] == {"br": ["br"]}  # the folder's formats in force
    assert summary["ocr_ms_per_plate"] > 0


def test_eval_plate_regions_override_and_refuse_unknown(scenes_dir):
    raw = CliRunner().invoke(main, ["eval", scenes_dir, "--json", "--plate-regions", "none"])
    assert raw.exit_code == 0, raw.output
    assert json.loads(raw.stdout.strip().splitlines()[-1])["plate_regions"] == {"br": []}
    bad = CliRunner().invoke(main, ["eval", scenes_dir, "--plate-regions", "br,atlantis"])
    assert bad.exit_code != 0 and "atlantis" in bad.output


def test_suspected_label_errors_are_listed_and_never_hits():
    from alpr.plate_formats import default_catalog
    from evaluation.cli import LabelCheck

    check = LabelCheck(default_catalog(), lambda region: [region])
    assert check("eu", "RKO99AN", ["RK099AN"])  # IT LLNNNLL: a letter O where digits go
    assert not check("eu", "RK099AN", ["RKO99AN"])  # the label fits: the read is wrong
    assert not check("eu", "RKO99AN", ["RK099AM"])  # not only look-alikes apart
    assert not check("us", "HK0E7C", ["HKOE7C"])  # US plates may spell anything


def test_eval_counts_a_broken_image_without_crashing(tmp_path):
    folder = tmp_path / "br"
    folder.mkdir()
    (folder / "BAD1234.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "BAD1234.txt").write_text("BAD1234.jpg\t1\t1\t20\t10\tBAD1234\n")
    (folder / "odd.txt").write_text("this line is not a label\n")
    result = CliRunner().invoke(main, ["eval", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["images"] == 1 and summary["errors"] == 1 and summary["exact"] == 0
    assert summary["misses"][0]["error"]
    assert "warning:" in result.stderr and "odd.txt" in result.stderr


def test_eval_rejects_an_empty_folder(tmp_path):
    result = CliRunner().invoke(main, ["eval", str(tmp_path)])
    assert result.exit_code != 0 and "no labelled images" in result.output
