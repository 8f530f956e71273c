"""engines.trim: a cached copy of a model without the outputs its adapter never reads."""
import importlib.util
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="trimming edits the ONNX graph")


def _run(path, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return {o.name: v for o, v in zip(session.get_outputs(), session.run(None, feeds))}


def test_copy_drops_the_prototype_branch_and_keeps_output0_bit_identical(models, tmp_path):
    from engines.adapters.yolo_raw import masks_of
    from engines.trim import only_outputs

    path, dropped = only_outputs(models["raw"], [0], str(tmp_path))
    assert path != models["raw"] and os.path.dirname(path) == str(tmp_path)
    assert dropped == [("output1", [1, 32, 4, 4])] and masks_of([s for _, s in dropped]) == 32
    trimmed, original = onnx.load(path), onnx.load(models["raw"])
    assert [o.name for o in trimmed.graph.output] == ["output0"]
    assert len(trimmed.graph.node) == len(original.graph.node) - 1  # the protos' Cast
    assert "protos_c" not in {t.name for t in trimmed.graph.initializer}
    onnx.checker.check_model(trimmed)
    image = np.random.RandomState(0).rand(1, 3, 64, 64).astype(np.float16)
    full, only = _run(models["raw"], {"images": image}), _run(path, {"images": image})
    assert set(only) == {"output0"}
    assert np.array_equal(full["output0"], only["output0"])


def test_sidecar_answers_later_loads_and_a_changed_source_is_redone(models, tmp_path):
    import shutil

    from engines.trim import only_outputs

    src = str(tmp_path / "det.onnx")
    shutil.copy(models["raw"], src)
    cache = str(tmp_path / "cache")
    first = only_outputs(src, [0], cache)
    with open(first[0] + ".json") as fh:
        record = json.load(fh)
    assert record["kept"] == ["output0"] and record["dropped"] == [["output1", [1, 32, 4, 4]]]
    os.utime(first[0], (1, 1))
    assert only_outputs(src, [0], cache) == first  # from the sidecar, not remade
    assert os.path.getmtime(first[0]) == 1
    model = onnx.load(src)  # same file name, other content (a retrained model)
    model.doc_string = "retrained"
    onnx.save(model, src)
    again = only_outputs(src, [0], cache)
    assert again[0] != first[0] and os.path.isfile(again[0])


def test_nothing_to_drop_or_not_onnx_keeps_the_original(models, tmp_path):
    from engines.trim import only_outputs

    assert only_outputs(models["raw"], [0, 1], str(tmp_path)) == (models["raw"], [])
    engine = str(tmp_path / "det.engine")
    open(engine, "wb").close()
    assert only_outputs(engine, [0], str(tmp_path)) == (engine, [])


def test_detector_built_from_settings_runs_the_trimmed_copy(models, tmp_path):
    from alpr.settings import Settings
    from engines.models import build_detector

    settings = Settings(detector=models["raw"], engine_cache_dir=str(tmp_path))
    detector = build_detector(settings)
    assert [o.name for o in detector.runtime.outputs] == ["output0"]
    assert detector.num_masks == 32  # from the dropped prototypes' shape
    untrimmed = build_detector(Settings(detector=models["raw"], trim_outputs=False,
                                        engine_cache_dir=str(tmp_path)))
    assert len(untrimmed.runtime.outputs) == 2 and untrimmed.num_masks == 32
    frame = np.full((64, 64, 3), 200, np.uint8)
    found = []
    for det in (detector, untrimmed):
        feeds, ctx = det.prepare(frame)
        found.append(det.postprocess(det.infer(feeds), ctx))
    assert found[0] and found[0] == found[1]


def test_platedet_trimmed_output0_is_bit_identical(tmp_path):
    import onnxruntime as ort

    if importlib.util.find_spec("platedet") is None:
        pytest.skip("platedet not installed")
    if tuple(int(p) for p in ort.__version__.split(".")[:2]) < (1, 13):
        pytest.skip("onnxruntime %s cannot load platedet's opset 17 (the node path converts "
                    "it first; tests/engines/test_default_models.py covers that)" % ort.__version__)
    from engines.models import default_file
    from engines.trim import only_outputs

    src = default_file("platedet")
    path, dropped = only_outputs(src, [0], str(tmp_path))
    assert [name for name, _ in dropped] == ["output1"]
    assert len(onnx.load(path).graph.node) < len(onnx.load(src).graph.node)
    image = np.random.RandomState(1).rand(1, 3, 640, 640).astype(np.float16)
    assert np.array_equal(_run(src, {"images": image})["output0"],
                          _run(path, {"images": image})["output0"])
