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
                                              "--plot", plot])
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
