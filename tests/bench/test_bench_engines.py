"""`alpr bench engines` on this machine: ONNX Runtime rows on the real default models."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.engines import engines_cmd, random_feeds, table_rows, tensorrt_unavailable
from engines.runtime import TensorSpec


def test_random_feeds_follow_specs_and_fill_dynamic_dims():
    feeds = random_feeds([TensorSpec("images", [1, 3, 64, 64], "float16"),
                          TensorSpec("input", ["batch", "seq"], "int64"),
                          TensorSpec("context", [None, 1280], "float32")])
    assert feeds["images"].shape == (1, 3, 64, 64) and feeds["images"].dtype == np.float16
    assert feeds["input"].shape == (1, 8) and feeds["input"].dtype == np.int64
    assert feeds["context"].shape == (1, 1280)


def test_table_rows_show_speedup_and_errors():
    summary = {"results": {"det": {"onnxruntime": {"median_ms": 10.0, "p90_ms": 11.0},
                                   "tensorrt": {"median_ms": 2.5, "p90_ms": 3.0}},
                           "end-to-end": {"onnxruntime": {"error": "RuntimeError: boom"}}}}
    rows = table_rows(summary)
    assert rows[1] == ["det", "tensorrt", 2.5, 3.0, "4.00x"]
    assert rows[2][:2] == ["end-to-end", "onnxruntime"] and "boom" in rows[2][4]


def test_engines_cmd_times_default_models_on_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    plot = str(tmp_path / "engines.png")
    result = CliRunner().invoke(engines_cmd, ["--repeat", "1", "--warmup", "0", "--json",
                                              "--plot", plot, "--max-images", "0"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert "onnxruntime" in summary["runtimes"]
    detector = [m for m in summary["results"] if "det" in m][0]
    assert summary["results"][detector]["onnxruntime"]["median_ms"] > 0
    assert "end-to-end" in summary["results"]
    if tensorrt_unavailable():
        assert "TensorRT unavailable here" in result.output
        assert summary["runtimes"] == ["onnxruntime"]
    with open(plot, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_engines_cmd_reads_the_dev_photos_on_each_runtime(openalpr_dir):
    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(engines_cmd, ["--repeat", "1", "--warmup", "0", "--json",
                                              "--no-end-to-end", "--images", openalpr_dir,
                                              "--max-images", "3"])
    assert result.exit_code == 0, result.output
    reads = json.loads(result.output.strip().splitlines()[-1])["reads"]
    assert reads["images"] == 3 and 0 <= reads["onnxruntime"]["correct"] <= 3
    assert "reads (3 photos)" in result.output and "/3 right" in result.output


def test_engines_cmd_says_why_reads_are_skipped(tmp_path):
    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(engines_cmd, ["--repeat", "1", "--warmup", "0", "--no-end-to-end",
                                              "--images", str(tmp_path / "absent"), "--max-images", "3",
                                              "--model", _tiny_model(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "reads skipped: no dev images at" in result.output


def _tiny_model(tmp_path):
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engines"))
    import onnx_builders

    return onnx_builders.fp16_detector(str(tmp_path / "d.onnx"))
