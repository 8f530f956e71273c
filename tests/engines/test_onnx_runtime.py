"""The ONNX Runtime backend of the runtime contract, on tiny models."""
import numpy as np
import pytest

from alpr.errors import ConfigError, EngineError, ModelError
from engines.onnx_runtime import OnnxRuntime, pick_providers
from engines.open_runtime import open_runtime, trt_options_from


def test_specs_come_from_the_session(models):
    rt = OnnxRuntime(models["raw"])
    assert [s.name for s in rt.inputs] == ["images"]
    assert rt.inputs[0].shape == (1, 3, 64, 64) and rt.inputs[0].dtype == np.float16
    assert rt.outputs[0].shape == (1, 37, 3) and rt.outputs[1].dtype == np.float16
    dec = OnnxRuntime(models["encdec"] + "/decoder.onnx")
    tokens = dec.input("input")
    assert tokens.dtype == np.int64 and tokens.is_dynamic and tokens.shape[1] == "seq"
    slot = OnnxRuntime(models["slot_grey"])
    assert slot.inputs[0].dtype == np.uint8


def test_run_casts_feeds_and_accounts_model_time(models):
    with OnnxRuntime(models["raw"], intra_op_threads=1) as rt:
        out = rt.run({"images": np.zeros((1, 3, 64, 64), np.float32)})  # cast to float16
        assert set(out) == {"output0", "output1"} and out["output0"].dtype == np.float16
        assert rt.calls == 1 and rt.total_ms > 0
    assert rt.closed
    with pytest.raises(EngineError, match="closed"):
        rt.run({"images": np.zeros((1, 3, 64, 64), np.float16)})


def test_bad_feeds_and_files_are_clear_errors(models, tmp_path):
    rt = OnnxRuntime(models["raw"])
    with pytest.raises(EngineError, match="missing"):
        rt.run({})
    with pytest.raises(EngineError, match="shape"):
        rt.run({"images": np.zeros((1, 3, 32, 32), np.float16)})
    with pytest.raises(ModelError, match="not found"):
        OnnxRuntime(str(tmp_path / "nope.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxRuntime(str(junk))


def test_unavailable_providers_fall_back_to_cpu():
    assert pick_providers(["NoSuchExecutionProvider"]) == ["CPUExecutionProvider"]
    assert pick_providers(None) == ["CPUExecutionProvider"]


def test_open_runtime_dispatches_and_refuses_unknown(models):
    rt = open_runtime(models["slot_grey"], "onnxruntime", intra_op_threads=1)
    assert rt.backend == "onnxruntime"
    with pytest.raises(ConfigError, match="unknown runtime"):
        open_runtime(models["slot_grey"], "tflite")


def test_trt_options_follow_settings_names():
    from alpr.settings import Settings

    opts = trt_options_from(Settings())
    assert {"cache_dir", "workspace_mb", "fp16"} <= set(opts)
    assert "~" not in opts["cache_dir"]
