"""The default OCR's models through `alpr models prepare --target trt8.2|trt10` and the
TensorRT builders and runtimes (the fakes of each generation: TensorRT is not
installable here), reading the same text as on ONNX Runtime."""
import importlib.util
import os

import numpy as np
import pytest

import fake_pycuda

from engines.prepare import convert
from engines.tensorrt.build import BuildOptions, build_engine
from engines.tensorrt.cuda_context import shared_context
from engines.tensorrt.runtime import runtime_class


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    for package in ("rapidocr", "rapidocr_onnxruntime"):
        if importlib.util.find_spec(package) is None:
            pytest.skip("%s is not installed (make venv installs it --no-deps)" % package)
    from engines.models_cli import default_model_paths

    return default_model_paths(str(tmp_path_factory.mktemp("cache")))


def _line(text):
    import cv2

    img = np.full((60, 260, 3), 235, np.uint8)
    cv2.putText(img, text, (8, 48), cv2.FONT_HERSHEY_SIMPLEX, 1.7, (20, 20, 20), 5, cv2.LINE_AA)
    return img


@pytest.mark.parametrize("target", ["trt8.2", "trt10"])
def test_the_recogniser_builds_with_image_width_profiles_and_reads_as_on_ort(
        trt, models, target, tmp_path):
    from engines.adapters.ctc_ocr import CtcOcr
    from engines.head_trim import trimmed_copy
    from engines.onnx_runtime import OnnxRuntime

    if (target == "trt10") != (trt.__version__.startswith("10")):
        pytest.skip("one target per generation")
    src = models["ppocr-rec"]
    out = str(tmp_path / ("rec.%s.onnx" % target))
    convert.prepare(src, target, out)
    result = build_engine(out, BuildOptions(), trt, fake_pycuda)
    name = list(result.input_shapes)[0]
    assert result.input_shapes[name] == [[1, 3, 48, 32], [2, 3, 48, 160], [8, 3, 48, 512]]
    ctx = shared_context(0, fake_pycuda)
    runtime = runtime_class(trt)(result.engine, trt, ctx, owns_context=True)
    path, vocabulary, _ = trimmed_copy(src, str(tmp_path))  # a copy's copy: itself
    assert len(vocabulary) == 66 and path.endswith(".plate-head.onnx")
    on_trt = CtcOcr(runtime, vocabulary)
    on_ort = CtcOcr(OnnxRuntime(src), vocabulary)
    lines = [_line("ABC1234"), _line("XY98")[:, :150], _line("BRA2E19")]
    try:
        want = [r.text for r in on_ort.read_lines(lines)]
        assert [r.text for r in on_trt.read_lines(lines)] == want
        assert "".join(want[0].split()) == "ABC1234"
    finally:
        runtime.close()
        on_ort.runtime.close()


def test_the_text_detector_profile_covers_the_locator_crops(trt, models, tmp_path):
    out = str(tmp_path / "det.onnx")
    convert.prepare(models["ppocr-det"], "trt8.2", out)
    result = build_engine(out, BuildOptions(), trt, fake_pycuda)
    lo, opt, hi = list(result.input_shapes.values())[0]
    assert lo[2:] == [32, 32] and hi[2:] == [512, 512]  # 128 x up to 3 x 128 crops fit


def test_the_default_ocr_builds_engines_for_the_shapes_it_feeds(gpu, models, tmp_path,
                                                               monkeypatch):
    """Per-adapter profiles: the locator gets batch 1 at its own height, the recogniser
    its width buckets, not the builder's generic image range (buffers sized for it)."""
    import glob
    import json
    import sys

    import fake_tensorrt8

    from alpr.settings import Settings
    from engines.models import build_ocr

    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt8)
    settings = Settings.load(env={}, overrides={"runtime": "tensorrt",
                                                "engine_cache_dir": str(tmp_path)})
    ocr = build_ocr(settings)
    try:
        shapes = {}
        for side in glob.glob(str(tmp_path / "*.json")):
            record = json.load(open(side))
            for name, value in (record.get("input_shapes") or {}).items():
                shapes[os.path.basename(record.get("onnx", side))] = value
        found = sorted(map(str, shapes.values()))
        assert str([[1, 3, 48, 64], [2, 3, 48, 160], [8, 3, 48, 256]]) in found, shapes
        assert str([[1, 3, 128, 32], [1, 3, 128, 256], [1, 3, 128, 352]]) in found, shapes
        read = ocr.read(_line("ABC1234"), [(0, 0, 260, 60)])[0]
        assert "".join(read.text.split()) == "ABC1234"
    finally:
        for runtime in ocr.runtimes:
            runtime.close()
