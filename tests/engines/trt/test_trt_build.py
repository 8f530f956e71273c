"""Engine builds against the fake TensorRT 8.2 and 10.x builders."""
import time

import numpy as np
import pytest

import fake_pycuda
import fake_tensorrt8
import fake_tensorrt10
import fake_trt_common
import onnx_builders as build
from trt_calls import calls, clear_calls

from alpr.errors import ConfigError, ModelError
from engines.prepare import convert
from engines.tensorrt.build import (BuildOptions, _Ticker, build_engine, default_profile, onnx_profiles,
                                    parse_profile, trtexec_command)

BUILD_CALLS = {"trt.Builder.create_network", "trt.OnnxParser.parse", "trt.IBuilderConfig.set_memory_pool_limit",
               "trt.IBuilderConfig.set_flag", "trt.IOptimizationProfile.set_shape",
               "trt.Builder.build_serialized_network", "trt.Builder.build_engine"}


def _engine_json(trt, engine: bytes) -> dict:
    return fake_trt_common.deserialize(trt.TAG, engine)


def test_8_2_build_uses_the_explicit_batch_flag_and_max_workspace_size(gpu, tmp_path):
    src = build.trt_pair(str(tmp_path / "m.onnx"))
    messages = []
    result = build_engine(src, BuildOptions(workspace_mb=64), fake_tensorrt8, fake_pycuda, messages.append)
    assert [c for c in calls(BUILD_CALLS)] == [
        ("trt.Builder.create_network", 1),  # 1 << EXPLICIT_BATCH
        ("trt.OnnxParser.parse", len(open(src, "rb").read())),
        ("trt.IBuilderConfig.set_flag", "FP16"),
        ("trt.IOptimizationProfile.set_shape", ("x", (1, 3, 8, 16), (2, 3, 8, 16), (8, 3, 8, 16))),
        ("trt.IOptimizationProfile.set_shape", ("tokens", (1, 1), (2, 8), (8, 16))),
        ("trt.Builder.build_serialized_network", 64 << 20),  # config.max_workspace_size
    ]
    engine = _engine_json(fake_tensorrt8, result.engine)
    assert engine["workspace"] == 64 << 20 and engine["flags"] == ["FP16"]
    assert result.precision == "fp16" and result.trt_version == "8.2.1.8" and result.api == 8
    assert result.input_shapes == {"x": [[1, 3, 8, 16], [2, 3, 8, 16], [8, 3, 8, 16]],
                                   "tokens": [[1, 1], [2, 8], [8, 16]]}
    assert messages[0].startswith("building fp16 engine") and messages[-1].startswith("built in")


def test_10_build_uses_memory_pool_limit_and_an_implicitly_explicit_network(gpu, tmp_path):
    src = build.fp16_detector(str(tmp_path / "d.onnx"))
    result = build_engine(src, BuildOptions(), fake_tensorrt10, fake_pycuda)
    assert [c for c in calls(BUILD_CALLS)][:3] == [
        ("trt.Builder.create_network", 0),
        ("trt.OnnxParser.parse", len(open(src, "rb").read())),
        ("trt.IBuilderConfig.set_memory_pool_limit", ("WORKSPACE", 256 << 20)),
    ]
    assert not calls({"trt.IOptimizationProfile.set_shape"})  # fixed shapes need no profile
    assert _engine_json(fake_tensorrt10, result.engine)["workspace"] == 256 << 20
    assert result.input_shapes == {"images": [1, 3, 16, 16]} and result.api == 10


def test_10_build_reports_phases_through_a_progress_monitor(gpu, tmp_path):
    messages = []
    build_engine(build.fp16_detector(str(tmp_path / "d.onnx")), BuildOptions(), fake_tensorrt10,
                 report=messages.append)
    assert "  Building engine (4 steps)" in messages and "    Building engine 4/4" in messages
    assert not hasattr(fake_tensorrt8, "IProgressMonitor")  # 8.2 has none: only the ticker


def test_no_fast_fp16_builds_fp32_and_says_so(trt, tmp_path, monkeypatch):
    monkeypatch.setitem(trt.PLATFORM, "fast_fp16", False)
    result = build_engine(build.fp16_detector(str(tmp_path / "d.onnx")), BuildOptions(fp16=True), trt)
    assert result.precision == "fp32" and "no fast FP16" in result.notes[0]
    assert not calls({"trt.IBuilderConfig.set_flag"})
    result = build_engine(build.fp16_detector(str(tmp_path / "d.onnx")), BuildOptions(fp16=False), trt)
    assert result.precision == "fp32" and not result.notes


def test_8_2_parser_rejects_unprepared_models_and_accepts_prepared_ones(gpu, tmp_path):
    src = build.yolo_end2end(str(tmp_path / "e2e.onnx"), build.max_opset(15))
    with pytest.raises(ModelError, match="prepare --target trt8.2") as info:
        build_engine(src, BuildOptions(), fake_tensorrt8)
    assert "NonMaxSuppression" in str(info.value) and "uint8" in str(info.value)
    prepared = convert.prepare(src, "trt8.2", str(tmp_path / "e2e.trt8.2.onnx"))
    result = build_engine(prepared.path, BuildOptions(), fake_tensorrt8)
    outputs = _engine_json(fake_tensorrt8, result.engine)["outputs"]
    assert [o[0] for o in outputs] == ["boxes", "scores"]


def test_custom_profile_and_profile_errors(trt, tmp_path):
    src = build.trt_pair(str(tmp_path / "m.onnx"))
    name, prof = parse_profile("tokens:1x1,4x10,4x20")
    assert (name, prof) == ("tokens", ((1, 1), (4, 10), (4, 20)))
    result = build_engine(src, BuildOptions(profiles={name: prof}, max_batch=4), trt)
    assert result.profiles["tokens"] == prof and result.profiles["x"][2] == (4, 3, 8, 16)
    assert onnx_profiles(src, BuildOptions(profiles={name: prof}, max_batch=4)) == result.profiles
    with pytest.raises(ConfigError, match="unknown inputs"):
        build_engine(src, BuildOptions(profiles={"nope": prof}), trt)
    for bad in ("tokens:1x1,4x10", "tokens:4x1,1x1,8x1", "tokens:1xa,1x1,1x1", "1x1,1x1,1x1"):
        with pytest.raises(ConfigError):
            parse_profile(bad)
    assert default_profile((-1, 3, 224, 224), 8, 16) == ((1, 3, 224, 224), (2, 3, 224, 224), (8, 3, 224, 224))
    # PP-OCR's detector and recogniser: any image height/width -> TRT_IMAGE_DIMS (32..512)
    assert default_profile((-1, 3, -1, -1), 8, 16) == ((1, 3, 32, 32), (2, 3, 160, 160), (8, 3, 512, 512))
    assert default_profile((-1, 3, 48, -1), 4, 16) == ((1, 3, 48, 32), (2, 3, 48, 160), (4, 3, 48, 512))
    assert default_profile((-1, 5, -1), 8, 16)[2] == (8, 5, 16)  # not an image: a sequence


def _frames(folder, n):
    import cv2

    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(n):
        cv2.imwrite(str(folder / ("f%02d.jpg" % i)), rng.randint(0, 255, (48, 64, 3)).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return str(folder)


def test_int8_calibrates_from_frames_then_reuses_the_cache(trt, tmp_path, monkeypatch):
    monkeypatch.setitem(trt.PLATFORM, "fast_int8", True)  # e.g. a Xavier (sm 7.2), not a Nano
    src = str(tmp_path / "det.onnx")
    build.yolo_end2end(src, 13, input_type=1, size=16)
    prepared = convert.prepare(src, "trt8.2", str(tmp_path / "det.trt.onnx")).path
    calib = _frames(tmp_path / "frames", 5)
    cache = str(tmp_path / "det.calib")
    options = BuildOptions(int8=True, calib_dir=calib, calib_cache=cache)
    messages = []
    result = build_engine(prepared, options, trt, fake_pycuda, messages.append)
    engine = _engine_json(trt, result.engine)
    assert engine["calib_batches"] == 5 and "INT8" in engine["flags"]  # batch 1 per frame
    assert result.precision == "int8+fp16"
    assert any("5 batches of 1 frames" in m for m in messages)
    assert [c[1] for c in calls({"memcpy_htod"})] == [1 * 3 * 16 * 16 * 4] * 5
    assert open(cache, "rb").read() == b"fake-int8-calibration-cache:5"
    clear_calls()
    again = build_engine(prepared, BuildOptions(int8=True, calib_cache=cache), trt, fake_pycuda)
    assert _engine_json(trt, again.engine)["calib_batches"] == 0 and not calls({"memcpy_htod"})
    with pytest.raises(ConfigError, match="--calib"):
        BuildOptions(int8=True)


def test_trtexec_command_lines_for_both_generations(tmp_path):
    options = BuildOptions(workspace_mb=128)
    profiles = {"input": ((1, 3, 224, 224), (2, 3, 224, 224), (8, 3, 224, 224))}
    old = trtexec_command("enc.onnx", "enc.engine", options, "8.2.1.8", profiles)
    assert old == ("trtexec --onnx=enc.onnx --saveEngine=enc.engine --workspace=128 --fp16 "
                   "--tacticSources=-CUBLAS,-CUBLAS_LT,-CUDNN --minShapes=input:1x3x224x224 --optShapes=input:2x3x224x224 --maxShapes=input:8x3x224x224")
    new = trtexec_command("enc.onnx", "enc.engine", BuildOptions(fp16=False), "10.3.0", {})
    assert new == "trtexec --onnx=enc.onnx --saveEngine=enc.engine --memPoolSize=workspace:256"


def test_ticker_reports_elapsed_time():
    seen = []
    with _Ticker(seen.append, every=0.01):
        time.sleep(0.1)
    assert seen and all(b >= a for a, b in zip(seen, seen[1:])) and seen[0] > 0
