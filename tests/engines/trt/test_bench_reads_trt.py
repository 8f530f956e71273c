"""`alpr bench engines`' read comparison with the fake TensorRT 8.2: the TensorRT pipeline and
the ONNX Runtime pipeline read the same dev photos, and the summary says how often they agree."""
import os
import sys

import pytest

import fake_tensorrt8
from testenv import SHARED_DATA

from alpr.settings import Settings
from bench.engine_reads import compare_reads, reads_rows


def test_tensorrt_reads_are_compared_with_onnxruntime_on_the_dev_photos(gpu, tmp_path, monkeypatch):
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("shared data not present at %s" % SHARED_DATA)
    from engines.models import describe_defaults

    if not describe_defaults():
        pytest.skip("default models not installed")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt8)
    settings = Settings.load(env={"ALPR_ENGINE_CACHE_DIR": str(tmp_path / "cache")})
    reads = compare_reads(settings, ["onnxruntime", "tensorrt"], SHARED_DATA, 2)
    assert reads["images"] == 2
    assert "error" not in reads["tensorrt"], reads["tensorrt"]
    # the fake engines run the prepared ONNX in FP32: they must read exactly what ORT reads
    assert reads["agreement"] == 1.0 and reads["differences"] == []
    assert reads["tensorrt"]["correct"] == reads["onnxruntime"]["correct"]
    rows = reads_rows(reads)
    assert rows[1][1] == "tensorrt" and rows[1][4].endswith("100% as ORT")
