"""`alpr read` through click's CliRunner, on tiny models given as user paths."""
import json
import shutil

import cv2
import numpy as np
from click.testing import CliRunner

from alpr.cli import main


def _args(models, tmp_path):
    ocr = tmp_path / "ocr"
    shutil.copytree(models["encdec"], str(ocr))
    return ["--detector", models["raw"], "--detector-format", "yolo_raw", "--ocr", str(ocr),
            "--ocr-format", "encdec", "--intra-op-threads", "1", "--det-conf", "0.5"]


def _images(tmp_path):
    frame = np.full((720, 1280, 3), 255, np.uint8)
    frame[:, :, 2] = 0
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), frame)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good.read_bytes()[:500])
    return str(good), str(bad)


def test_read_json_one_object_per_image_then_summary(models, tmp_path):
    good, bad = _images(tmp_path)
    result = CliRunner().invoke(main, ["read", good, bad, "--json"] + _args(models, tmp_path))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert len(lines) == 3 and lines[-1]["summary"] is True
    assert lines[-1]["images"] == 2 and lines[-1]["errors"] == 1 and lines[-1]["plates"] == 1
    read = lines[0]["reads"][0]
    assert read["text"] == "ABC1234" and read["region"] == "br" and len(read["box"]) == 4
    assert {"decode", "det_infer", "ocr_infer", "total"} <= set(lines[0]["timings"])
    assert lines[1]["error"].startswith("bad_image") and lines[1]["reads"] == []


def test_read_human_output_and_help(models, tmp_path):
    good, _ = _images(tmp_path)
    result = CliRunner().invoke(main, ["read", good] + _args(models, tmp_path))
    assert result.exit_code == 0, result.output
    assert "ABC1234" in result.output and "1 plate(s)" in result.output
    assert CliRunner().invoke(main, ["read", "--help"]).exit_code == 0


def test_read_with_a_broken_model_path_is_a_clean_error(models, tmp_path):
    good, _ = _images(tmp_path)
    result = CliRunner().invoke(main, ["read", good, "--detector", str(tmp_path / "x.onnx"),
                                       "--detector-format", "yolo_raw"])
    assert result.exit_code != 0 and "not found" in result.output
