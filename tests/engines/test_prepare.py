"""`alpr models prepare` on tiny models with the seed models' contracts (runs on 3.6 and 3.11)."""
import os
import sys

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_builders as build  # noqa: E402

from alpr.errors import ConfigError, ModelError  # noqa: E402
from engines.prepare import convert, equivalence as eq, opset, rewrite  # noqa: E402
from engines.models_cli import models_group  # noqa: E402


def _ort_max_opset() -> int:
    import onnxruntime

    major, minor = [int(p) for p in onnxruntime.__version__.split(".")[:2]]
    return 15 if (major, minor) < (1, 11) else 17


#: originals must run on this interpreter's onnxruntime to be the reference
REF_OPSET = min(_ort_max_opset(), build.max_opset())


def _ops(path: str):
    return [n.op_type for n in onnx.load(path).graph.node]


def _inputs(path: str):
    return {name: (dims, dtype) for name, dims, dtype in eq.graph_inputs(onnx.load(path))}


def _prove(src: str, dst: str):
    rows = eq.compare(dst, eq.reference_runs(onnx.load(src), onnx.load(dst)), 5e-3, 1e-4)
    assert rows and all(r.ok for r in rows), eq.format_rows(rows)
    return rows


def _host_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, score_thr: float, max_out: int):
    """Greedy NMS with ONNX NonMaxSuppression semantics (corner boxes, one class)."""
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > score_thr]
    keep = []
    for i in order:
        ok = True
        for j in keep:
            x1, y1 = np.maximum(boxes[i, :2], boxes[j, :2])
            x2, y2 = np.minimum(boxes[i, 2:], boxes[j, 2:])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > iou:
                ok = False
                break
        if ok:
            keep.append(i)
        if len(keep) == max_out:
            break
    return keep


def test_end2end_detector_for_trt82_is_cut_before_nms_and_host_nms_reproduces_it(tmp_path):
    src = build.yolo_end2end(str(tmp_path / "det.onnx"), REF_OPSET)
    prepared = convert.prepare(src, "trt8.2", str(tmp_path / "det.trt8.2.onnx"))
    model = onnx.load(prepared.path)
    assert opset.model_opset(model) == 13 and model.ir_version <= 7
    assert "NonMaxSuppression" not in _ops(prepared.path)
    assert _inputs(prepared.path)["images"][1] == np.float32  # TRT 8.2 has no UINT8
    assert [o.name for o in model.graph.output] == ["boxes", "scores"]
    assert prepared.cut == {"boxes": "boxes", "scores": "scores", "iou_threshold": 0.5,
                            "score_threshold": pytest.approx(0.3), "max_output_boxes_per_class": 10.0,
                            "center_point_box": 0}
    rows = _prove(src, prepared.path)
    assert max(r.max_abs for r in rows) == 0.0  # uint8 -> float32 is exact for integer pixels
    # the host NMS on the cut outputs gives exactly the original end2end detections
    feeds = eq.make_feeds(onnx.load(src), "random", seed=3)
    original = eq.run_model(src, feeds)["detections"]
    cut = eq.run_model(prepared.path, {"images": feeds["images"].astype(np.float32)})
    boxes, scores = cut["boxes"][0], cut["scores"][0, 0]
    keep = _host_nms(boxes, scores, 0.5, 0.3, 10)
    assert len(keep) == len(original) > 0
    np.testing.assert_allclose(boxes[keep], original[:, 1:5], rtol=1e-6)
    np.testing.assert_allclose(scores[keep], original[:, 6], rtol=1e-6)


def test_trt10_keeps_nms_but_takes_float_input(tmp_path):
    src = build.yolo_end2end(str(tmp_path / "det.onnx"), REF_OPSET)
    prepared = convert.prepare(src, "trt10", str(tmp_path / "det.trt10.onnx"))
    assert "NonMaxSuppression" in _ops(prepared.path) and prepared.cut is None
    assert _inputs(prepared.path)["images"][1] == np.float32
    assert _ops(prepared.path)[0] != "Cast"  # the uint8 preamble Cast was bypassed, not doubled
    _prove(src, prepared.path)


def test_slot_ocr_uint8_nhwc_for_every_target(tmp_path):
    src = build.slot_ocr(str(tmp_path / "ocr.onnx"), REF_OPSET)
    for target in ("trt8.2", "trt10", "ort1.10"):
        prepared = convert.prepare(src, target, str(tmp_path / ("ocr.%s.onnx" % target)))
        dims, dtype = _inputs(prepared.path)["input"]
        assert dims == ["batch", 16, 32, 3]
        assert dtype == (np.uint8 if target == "ort1.10" else np.float32)
        assert opset.model_opset(onnx.load(prepared.path)) <= convert.TARGETS[target].max_opset
        rows = _prove(src, prepared.path)
        assert rows[0].shape == (2, 7, 37)


def test_fp16_model_is_fp32_throughout_for_trt82_and_at_the_edges_for_trt10(tmp_path):
    src = build.fp16_encoder(str(tmp_path / "enc.onnx"))
    full = onnx.load(convert.prepare(src, "trt8.2", str(tmp_path / "a.onnx")).path)
    assert all(t.data_type == TensorProto.FLOAT for t in full.graph.initializer)
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT
               for v in list(full.graph.input) + list(full.graph.output))
    _prove(src, str(tmp_path / "a.onnx"))
    edges = onnx.load(convert.prepare(src, "trt10", str(tmp_path / "b.onnx")).path)
    assert any(t.data_type == TensorProto.FLOAT16 for t in edges.graph.initializer)
    assert [n.op_type for n in edges.graph.node][0] == "Cast" and edges.graph.node[-1].op_type == "Cast"
    assert edges.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    _prove(src, str(tmp_path / "b.onnx"))
    same = onnx.load(convert.prepare(src, "ort1.10", str(tmp_path / "c.onnx")).path)
    assert same.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16  # ORT takes fp16


def _one_node_model(node, inputs, outputs, opset_version, inits=()):
    graph = helper.make_graph([node], "t", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset_version)])


def test_opset_patches_refuse_what_the_target_cannot_express():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])
    shape = onnx.numpy_helper.from_array(np.array([3, 2], np.int64), "s")
    ok = _one_node_model(helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=0), [x], [y], 14, [shape])
    notes = []
    converted = opset.convert_opset(ok, 13, notes)
    assert not converted.graph.node[0].attribute and opset.model_opset(converted) == 13
    bad = _one_node_model(helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=1), [x], [y], 14, [shape])
    with pytest.raises(ModelError, match="allowzero"):
        opset.convert_opset(bad, 13, [])
    z = helper.make_tensor_value_info("z", TensorProto.INT64, [1])
    sliced = _one_node_model(helper.make_node("Shape", ["x"], ["z"], start=1), [x], [z], 15)
    with pytest.raises(ModelError, match="start/end"):
        opset.convert_opset(sliced, 13, [])


@pytest.mark.skipif(onnx.defs.onnx_opset_version() < 18, reason="this onnx predates opset 18")
def test_reduce_axes_input_moves_back_to_an_attribute():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    axes = onnx.numpy_helper.from_array(np.array([1], np.int64), "axes")
    model = _one_node_model(helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0),
                            [x], [y], 18, [axes])
    converted = opset.convert_opset(model, 13, [])
    node = converted.graph.node[0]
    assert list(node.input) == ["x"] and helper.get_attribute_value(node.attribute[-1]) == [1]
    data = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    np.testing.assert_allclose(eq.run_model(converted, data)["y"], [1.0, 4.0])


def test_unknown_target_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="trt8.2"):
        convert.get_target("trt7")
    with pytest.raises(ModelError, match="not found"):
        convert.prepare(str(tmp_path / "nope.onnx"), "trt8.2")
    (tmp_path / "junk.onnx").write_bytes(b"\x01\x02not a model")
    with pytest.raises(ModelError, match="cannot parse"):
        convert.prepare(str(tmp_path / "junk.onnx"), "trt8.2")


def test_cli_prepare_saves_a_reference_and_check_detects_tampering(tmp_path):
    src = build.slot_ocr(str(tmp_path / "ocr.onnx"), REF_OPSET)
    out, ref = str(tmp_path / "ocr.trt8.2.onnx"), str(tmp_path / "ref.npz")
    runner = CliRunner()
    res = runner.invoke(models_group, ["prepare", src, "--target", "trt8.2", "-o", out,
                                       "--save-reference", ref])
    assert res.exit_code == 0, res.output
    assert "input input: UINT8 -> float32" in res.output and "max_abs" in res.output
    res = runner.invoke(models_group, ["check", out, "--reference", ref])
    assert res.exit_code == 0, res.output
    assert res.output.count(" yes") == 2
    model = onnx.load(out)
    weights = [t for t in model.graph.initializer if t.name == "w"][0]
    weights.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weights) * 1.5, "w"))
    onnx.save(model, out)
    res = runner.invoke(models_group, ["check", out, "--reference", ref])
    assert res.exit_code == 1 and " NO" in res.output


def test_real_feed_uses_the_sample_image(tmp_path):
    import cv2

    src = build.slot_ocr(str(tmp_path / "ocr.onnx"), REF_OPSET)
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :, 2] = 200  # red in BGR
    cv2.imwrite(str(tmp_path / "red.png"), img)
    feeds = eq.make_feeds(onnx.load(src), "real", sample=eq.load_sample(str(tmp_path / "red.png")))
    assert feeds["input"].shape == (2, 16, 32, 3)
    assert (feeds["input"][..., 0] == 200).all() and (feeds["input"][..., 2] == 0).all()  # RGB order
    scene = eq.generated_scene()
    assert scene.shape == (720, 1280, 3) and scene.std() > 10
