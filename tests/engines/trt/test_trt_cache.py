"""Engine cache, loader and `alpr engines` CLI against the fakes: build once, reuse, rebuild
stale or foreign engines (or refuse clearly), never run one that does not match."""
import json
import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import fake_pycuda
import fake_tensorrt8
import fake_tensorrt10
import onnx_builders as build
from trt_calls import calls, clear_calls

from alpr.errors import ConfigError
from engines.prepare import equivalence as eq
from engines.trt_cli import engines_group
from engines.tensorrt.loader import open_trt_runtime

BUILDS = {"trt.Builder.build_serialized_network"}


@pytest.fixture
def slot_model(tmp_path):
    return build.slot_ocr(str(tmp_path / "ocr.onnx"), 15)  # uint8 input: must be prepared for 8.2


def _open(trt, model, cache, **kw):
    return open_trt_runtime(model, cache_dir=cache, trt=trt, cuda=fake_pycuda, **kw)


def test_first_open_prepares_builds_and_writes_a_sidecar_then_reuses_it(trt, slot_model, tmp_path):
    cache = str(tmp_path / "cache")
    with _open(trt, slot_model, cache) as runtime:
        assert runtime.input().dtype == np.float32  # prepared: uint8 -> float32
        crops = np.random.RandomState(0).randint(0, 255, (3, 16, 32, 3)).astype(np.uint8)
        got = runtime.run({"input": crops})["probs"]
        np.testing.assert_allclose(got, eq.run_model(slot_model, {"input": crops})["probs"], rtol=1e-5)
    assert len(calls(BUILDS)) == 1
    engines = [f for f in os.listdir(cache) if f.endswith(".engine")]
    assert len(engines) == 1
    side = json.load(open(os.path.join(cache, engines[0][:-len(".engine")] + ".json")))
    assert side["tensorrt_version"] == trt.__version__ and side["gpu_name"] == "Fake GPU"
    assert side["compute_capability"] == "7.5" and side["precision"] == "fp16"
    assert side["input_shapes"] == {"input": [[1, 16, 32, 3], [2, 16, 32, 3], [8, 16, 32, 3]]}
    assert side["build_options"]["workspace_mb"] == 256 and len(side["model_sha256"]) == 64
    assert side["api"] == (10 if trt is fake_tensorrt10 else 8) and side["build_seconds"] >= 0
    prepared = [f for f in os.listdir(cache) if f.endswith(".onnx")]
    assert prepared and onnx.load(os.path.join(cache, prepared[0])).metadata_props
    clear_calls()
    with _open(trt, slot_model, cache, allow_build=False) as runtime:
        assert runtime.run({"input": crops})["probs"].shape == (3, 7, 37)
    assert not calls(BUILDS)  # reused


def _sidecar(cache):
    name = [f for f in os.listdir(cache) if f.endswith(".json")][0]
    return os.path.join(cache, name)


@pytest.mark.parametrize("change, reason", [
    ("gpu", "built for GPU"), ("trt", "built by TensorRT"), ("engine", "does not match its sidecar"),
])
def test_foreign_or_damaged_engines_are_rebuilt_or_refused_never_run(trt, slot_model, tmp_path, change, reason):
    cache = str(tmp_path / "cache")
    _open(trt, slot_model, cache).close()
    path = _sidecar(cache)
    side = json.load(open(path))
    if change == "gpu":
        side["gpu_name"], side["compute_capability"] = "NVIDIA Tegra X1", "5.3"
    elif change == "trt":
        side["tensorrt_version"] = "7.1.3"
    json.dump(side, open(path, "w"))
    if change == "engine":
        engine = path[:-len(".json")] + ".engine"
        open(engine, "ab").write(b"garbage")
    clear_calls()
    with pytest.raises(ConfigError, match=reason) as info:
        _open(trt, slot_model, cache, allow_build=False)
    assert "alpr engines build" in str(info.value)
    assert not calls({"trt.Runtime.deserialize_cuda_engine"})  # never ran it
    assert not fake_pycuda.CONTEXT_STACK  # the refused open released its context
    with _open(trt, slot_model, cache) as runtime:  # allowed to build: rebuilds
        assert runtime.run({"input": np.zeros((1, 16, 32, 3), np.uint8)})["probs"].shape == (1, 7, 37)
    assert len(calls(BUILDS)) == 1
    assert json.load(open(path))["gpu_name"] == "Fake GPU"


def test_changed_model_or_options_get_their_own_engine(trt, slot_model, tmp_path):
    cache = str(tmp_path / "cache")
    _open(trt, slot_model, cache).close()
    _open(trt, slot_model, cache, workspace_mb=128).close()
    build.slot_ocr(slot_model, 15, seed=1)  # new weights, same file name
    _open(trt, slot_model, cache).close()
    assert len(calls(BUILDS)) == 3
    assert len([f for f in os.listdir(cache) if f.endswith(".engine")]) == 3


def test_bare_engine_file_needs_a_matching_sidecar(gpu, slot_model, tmp_path):
    cache = str(tmp_path / "cache")
    _open(fake_tensorrt8, slot_model, cache).close()
    engine = _sidecar(cache)[:-len(".json")] + ".engine"
    with _open(fake_tensorrt8, engine, cache) as runtime:
        assert runtime.backend == "tensorrt8"
    with pytest.raises(ConfigError, match="built by TensorRT 8.2.1.8"):
        _open(fake_tensorrt10, engine, cache)  # an 8.2 engine on a TensorRT 10 node
    os.remove(_sidecar(cache))
    with pytest.raises(ConfigError, match="no sidecar"):
        _open(fake_tensorrt8, engine, cache)
    assert not fake_pycuda.CONTEXT_STACK


def test_cli_build_then_list(trt, slot_model, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    runner = CliRunner()
    res = runner.invoke(engines_group, ["build", slot_model, "--cache-dir", cache, "--workspace-mb", "64",
                                        "--max-batch", "4"])
    assert res.exit_code == 0, res.output
    assert "TensorRT %s on Fake GPU (sm 7.5)" % trt.__version__ in res.output
    assert "built " in res.output and "building fp16 engine" in res.output
    assert "trtexec equivalent: trtexec --onnx=" in res.output
    assert "--maxShapes=input:4x16x32x3" in res.output
    res = runner.invoke(engines_group, ["build", slot_model, "--cache-dir", cache, "--workspace-mb", "64",
                                        "--max-batch", "4"])
    assert res.exit_code == 0 and "cached " in res.output
    res = runner.invoke(engines_group, ["list", "--cache-dir", cache])
    assert res.exit_code == 0, res.output
    assert trt.__version__ in res.output and "Fake GPU" in res.output and "fp16" in res.output
    assert "sha256" in res.output


def test_cli_print_trtexec_needs_no_tensorrt(tmp_path, slot_model):
    res = CliRunner().invoke(engines_group, ["build", slot_model, "--print-trtexec", "--trt-version", "8.2.1"])
    assert res.exit_code == 0, res.output
    assert "alpr models prepare %s --target trt8.2 -o ./ocr.trt8.2.onnx" % slot_model in res.output
    assert "trtexec --onnx=./ocr.trt8.2.onnx --saveEngine=ocr.engine --workspace=256 --fp16 " \
           "--tacticSources=-CUBLAS,-CUBLAS_LT,-CUDNN " \
           "--minShapes=input:1x16x32x3" in res.output


def test_cli_reports_missing_tensorrt_clearly(tmp_path, slot_model, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as when not installed
    res = CliRunner().invoke(engines_group, ["build", slot_model, "--cache-dir", str(tmp_path)])
    assert res.exit_code == 1 and "needs the tensorrt Python package" in res.output
