"""Nano-minded build choices against both fake TensorRT generations: INT8 refused without
fast INT8, LayerNorm layers pinned to FP32 in FP16 engines, cuBLAS/cuDNN tactics off."""
import pytest
from click.testing import CliRunner

import fake_pycuda
import fake_tensorrt8
import fake_tensorrt10
import fake_trt_common
import onnx_builders as build
from trt_calls import calls

from alpr.errors import ConfigError
from engines.tensorrt.build import BuildOptions, build_engine
from engines.trt_cli import engines_group

LAYERNORM_FP32 = ["Pow_3", "ReduceMean_4", "Add_5", "Sqrt_6", "Div_7"]


def _engine(trt, result):
    return fake_trt_common.deserialize(trt.TAG, result.engine)


def test_int8_is_refused_where_the_gpu_has_no_fast_int8(trt, tmp_path, monkeypatch):
    monkeypatch.setitem(trt.PLATFORM, "fast_int8", False)  # the Nano's sm_53
    src = build.fp16_detector(str(tmp_path / "d.onnx"))
    cache = tmp_path / "det.calib"
    cache.write_bytes(b"calibration")
    with pytest.raises(ConfigError, match="no fast INT8") as info:
        build_engine(src, BuildOptions(int8=True, calib_cache=str(cache)), trt, fake_pycuda)
    assert "without --int8" in str(info.value)
    assert not calls({"trt.Builder.build_serialized_network", "trt.Builder.build_engine"})


def test_engines_build_cli_refuses_int8_on_a_nano_with_the_reason(gpu, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", fake_tensorrt8)
    monkeypatch.setitem(fake_tensorrt8.PLATFORM, "fast_int8", False)
    frames = tmp_path / "frames"
    frames.mkdir()
    src = build.fp16_detector(str(tmp_path / "d.onnx"))
    result = CliRunner().invoke(engines_group, ["build", src, "--int8", "--calib", str(frames),
                                                "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1 and "no fast INT8" in result.output
    assert not list((tmp_path / "cache").glob("*.engine"))


def test_fp16_build_keeps_the_layernorm_layers_in_fp32(trt, tmp_path):
    src = build.layernorm_block(str(tmp_path / "ln.onnx"))
    result = build_engine(src, BuildOptions(), trt)
    engine = _engine(trt, result)
    assert engine["fp32_layers"] == LAYERNORM_FP32
    assert "FP16" in engine["flags"] and "PREFER_PRECISION_CONSTRAINTS" in engine["flags"]
    assert any("kept 5 LayerNorm layers in FP32" in n for n in result.notes)
    outputs = [c[1] for c in calls({"trt.ILayer.set_output_type"})]
    assert outputs == [(name, 0, "FLOAT") for name in LAYERNORM_FP32]


def test_layernorm_pins_only_with_fp16_and_can_be_turned_off(trt, tmp_path):
    src = build.layernorm_block(str(tmp_path / "ln.onnx"))
    for options in (BuildOptions(fp16=False), BuildOptions(layernorm_fp32=False)):
        engine = _engine(trt, build_engine(src, options, trt))
        assert engine["fp32_layers"] == [] and "PREFER_PRECISION_CONSTRAINTS" not in engine["flags"]
    plain = build.trt_pair(str(tmp_path / "pair.onnx"))  # a ReduceMean without a Pow: nothing to pin
    assert _engine(trt, build_engine(plain, BuildOptions(), trt))["fp32_layers"] == []


def test_8_2_builds_without_cublas_and_cudnn_tactics(gpu, tmp_path):
    src = build.fp16_detector(str(tmp_path / "d.onnx"))
    assert _engine(fake_tensorrt8, build_engine(src, BuildOptions(), fake_tensorrt8))["tactic_sources"] == 0
    assert calls({"trt.IBuilderConfig.set_tactic_sources"}) == [
        ("trt.IBuilderConfig.set_tactic_sources", 0)]
    full = build_engine(src, BuildOptions(lean_tactics=False), fake_tensorrt8)
    assert _engine(fake_tensorrt8, full)["tactic_sources"] == 0b111  # cuBLAS, cuBLAS LT, cuDNN


def test_10_keeps_its_default_tactics_which_already_leave_out_the_libraries(gpu, tmp_path):
    src = build.fp16_detector(str(tmp_path / "d.onnx"))
    engine = _engine(fake_tensorrt10, build_engine(src, BuildOptions(), fake_tensorrt10))
    assert engine["tactic_sources"] == (1 << 3) | (1 << 4)  # edge-mask and JIT convolutions
    assert not calls({"trt.IBuilderConfig.set_tactic_sources"})


def test_a_build_that_needs_cudnn_is_retried_with_the_default_tactics(gpu, tmp_path, monkeypatch):
    monkeypatch.setitem(fake_tensorrt8.PLATFORM, "needs_cudnn", True)
    result = build_engine(build.fp16_detector(str(tmp_path / "d.onnx")), BuildOptions(), fake_tensorrt8)
    assert _engine(fake_tensorrt8, result)["tactic_sources"] == 0b111
    assert any("default tactic sources" in n for n in result.notes)


def test_the_default_ocr_models_get_their_layernorms_pinned(gpu, tmp_path):
    """The real default OCR models, prepared for 8.2 and built on the fake: every LayerNorm
    the exporter wrote as ReduceMean/Pow/Sqrt is found (platerec's decoder: 13 of them)."""
    from engines.models import DEFAULT_FILES, default_file
    from engines.prepare import convert

    from alpr.errors import ModelError

    built = {}
    for name, (_, rel) in sorted(DEFAULT_FILES.items()):
        if "rec" not in name or not rel.endswith(".onnx"):
            continue
        try:
            src = default_file(name)
        except ModelError:
            continue
        try:
            prepared = convert.prepare(src, "trt8.2", str(tmp_path / (name + ".onnx"))).path
        except ModelError:  # e.g. IR newer than onnx 1.11 reads (the worker loads a rewritten copy)
            continue
        built[name] = _engine(fake_tensorrt8, build_engine(prepared, BuildOptions(), fake_tensorrt8))
    if not built:
        pytest.skip("no default OCR model installed")
    for name, engine in built.items():
        pinned = engine["fp32_layers"]
        assert pinned and len(pinned) % 5 == 0, (name, pinned)  # Pow, Reduce, +eps, Sqrt, Div each
    if "platerec-decoder" in built:
        assert len(built["platerec-decoder"]["fp32_layers"]) == 65
