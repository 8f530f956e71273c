"""Tiny ONNX models with the seed models' contracts, built with onnx.helper inside tests.

- yolo_end2end: open-image-models yolo-v9-t end2end style, image in, a real
  NonMaxSuppression inside, [K, 7] rows (batch, x1, y1, x2, y2, class, score) out;
- slot_ocr: fast-plate-ocr style, uint8 NHWC crops in, softmax [N, slots, vocab] out;
- fp16_encoder: platerec-encoder style float16 I/O and weights, dynamic batch;
- trt_pair: float32 + int64 inputs, float32 + int64 outputs, dynamic batch/sequence
  (the OCR decoder's contract, for the TensorRT runtime tests);
- fp16_detector: float16 fixed-shape detector contract (platedet's).
"""
from typing import Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def max_opset(cap: int = 17) -> int:
    """The newest opset both this onnx build and `cap` allow."""
    return min(cap, onnx.defs.onnx_opset_version())


def _save(graph: onnx.GraphProto, path: str, opset: int) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="alpr-tests")
    model.ir_version = 7 if opset <= 14 else 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def yolo_end2end(path: str, opset: Optional[int] = None, input_type: int = TensorProto.UINT8,
                 size: int = 32, seed: int = 0) -> str:
    """Detector with NMS inside: images [1,3,size,size] -> detections [K,7] float32."""
    opset = opset or max_opset()
    rng = np.random.RandomState(seed)
    m = size * size
    nodes, inits = [], [
        _const("w", rng.randn(5, 3, 1, 1).astype(np.float32)),
        _const("inv255", np.array(1 / 255.0, np.float32)),
        _const("scale", np.array(float(size), np.float32)),
        _const("four", np.array(4.0, np.float32)),
        _const("shape_5m", np.array([1, 5, m], np.int64)),
        _const("s0", np.array([0], np.int64)), _const("s2", np.array([2], np.int64)),
        _const("s4", np.array([4], np.int64)), _const("s5", np.array([5], np.int64)),
        _const("ax1", np.array([1], np.int64)),
        _const("shape_m4", np.array([m, 4], np.int64)), _const("shape_m", np.array([m], np.int64)),
        _const("max_out", np.array([10], np.int64)), _const("iou", np.array([0.5], np.float32)),
        _const("score_thr", np.array([0.3], np.float32)),
        _const("c0", np.array(0, np.int64)), _const("c1", np.array(1, np.int64)),
        _const("c2", np.array(2, np.int64)), _const("shape_k1", np.array([-1, 1], np.int64)),
    ]
    x = "images"
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [x], ["images_f"], to=TensorProto.FLOAT))
        x = "images_f"
    nodes += [
        helper.make_node("Mul", [x, "inv255"], ["norm"]),
        helper.make_node("Conv", ["norm", "w"], ["feat"]),
        helper.make_node("Sigmoid", ["feat"], ["act"]),
        helper.make_node("Reshape", ["act", "shape_5m"], ["flat"]),
        helper.make_node("Slice", ["flat", "s0", "s2", "ax1"], ["xy_rel"]),
        helper.make_node("Slice", ["flat", "s4", "s5", "ax1"], ["scores"]),
        helper.make_node("Mul", ["xy_rel", "scale"], ["xy1"]),
        helper.make_node("Add", ["xy1", "four"], ["xy2"]),
        helper.make_node("Concat", ["xy1", "xy2"], ["boxes_t"], axis=1),
        helper.make_node("Transpose", ["boxes_t"], ["boxes"], perm=[0, 2, 1]),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score_thr"],
                         ["selected"]),
        helper.make_node("Reshape", ["boxes", "shape_m4"], ["boxes2d"]),
        helper.make_node("Reshape", ["scores", "shape_m"], ["scores1d"]),
        helper.make_node("Gather", ["selected", "c2"], ["box_idx"], axis=1),
        helper.make_node("Gather", ["selected", "c1"], ["cls_idx"], axis=1),
        helper.make_node("Gather", ["selected", "c0"], ["batch_idx"], axis=1),
        helper.make_node("Gather", ["boxes2d", "box_idx"], ["sel_boxes"], axis=0),
        helper.make_node("Gather", ["scores1d", "box_idx"], ["sel_scores"], axis=0),
        helper.make_node("Reshape", ["sel_scores", "shape_k1"], ["score_col"]),
        helper.make_node("Cast", ["cls_idx"], ["cls_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["cls_f", "shape_k1"], ["cls_col"]),
        helper.make_node("Cast", ["batch_idx"], ["batch_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["batch_f", "shape_k1"], ["batch_col"]),
        helper.make_node("Concat", ["batch_col", "sel_boxes", "cls_col", "score_col"], ["detections"],
                         axis=1),
    ]
    graph = helper.make_graph(
        nodes, "yolo_end2end_tiny",
        [helper.make_tensor_value_info("images", input_type, [1, 3, size, size])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["num_dets", 7])], inits)
    return _save(graph, path, opset)


def slot_ocr(path: str, opset: Optional[int] = None, slots: int = 7, vocab: int = 37,
             height: int = 16, width: int = 32, seed: int = 0) -> str:
    """Slot OCR: uint8 [N, H, W, 3] -> softmax probs [N, slots, vocab] float32."""
    opset = opset or max_opset()
    rng = np.random.RandomState(seed)
    feat = height * width * 3
    inits = [
        _const("inv255", np.array(1 / 255.0, np.float32)),
        _const("flat_shape", np.array([0, -1], np.int64)),
        _const("w", (rng.randn(feat, slots * vocab) * 0.05).astype(np.float32)),
        _const("out_shape", np.array([0, slots, vocab], np.int64)),
    ]
    nodes = [
        helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "inv255"], ["xn"]),
        helper.make_node("Reshape", ["xn", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Reshape", ["logits", "out_shape"], ["logits3"]),
        helper.make_node("Softmax", ["logits3"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "slot_ocr_tiny",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, ["batch", height, width, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", slots, vocab])], inits)
    return _save(graph, path, opset)


def fp16_encoder(path: str, opset: Optional[int] = None, seed: int = 0) -> str:
    """float16 [batch, 3, 8, 8] -> float16 [batch, 4] with fp16 weights (platerec-encoder style)."""
    opset = opset or max_opset(15)
    rng = np.random.RandomState(seed)
    inits = [_const("w", rng.randn(4, 3, 3, 3).astype(np.float16)),
             _const("b", rng.randn(4).astype(np.float16)),
             _const("half", np.array(0.5, np.float16))]
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["conv", "half"], ["scaled"]),
        helper.make_node("Relu", ["scaled"], ["act"]),
        helper.make_node("GlobalAveragePool", ["act"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "fp16_encoder_tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT16, ["batch_size", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT16, ["batch_size", 4])], inits)
    return _save(graph, path, opset)


def trt_pair(path: str, seed: int = 0) -> str:
    """Opset 13: x float32 [N,3,8,16] + tokens int64 [N,S] -> probs float32 [N,5] + tok_sum int64 [N,1]."""
    rng = np.random.RandomState(seed)
    inits = [_const("w", rng.randn(3, 5).astype(np.float32)), _const("ax1", np.array([1], np.int64))]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        helper.make_node("ReduceSum", ["tokens", "ax1"], ["tok_sum"], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes, "trt_pair_tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 16]),
         helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 5]),
         helper.make_tensor_value_info("tok_sum", TensorProto.INT64, ["batch", 1])], inits)
    return _save(graph, path, 13)


def fp16_detector(path: str, size: int = 16, seed: int = 0) -> str:
    """Opset 13: images float16 [1,3,size,size] -> output float16 [1,4,size,size] (platedet's I/O types)."""
    rng = np.random.RandomState(seed)
    inits = [_const("w", rng.randn(4, 3, 1, 1).astype(np.float32))]
    nodes = [
        helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["x", "w"], ["y"]),
        helper.make_node("Cast", ["y"], ["output"], to=TensorProto.FLOAT16),
    ]
    graph = helper.make_graph(
        nodes, "fp16_detector_tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT16, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT16, [1, 4, size, size])], inits)
    return _save(graph, path, 13)


def layernorm_block(path: str, width: int = 8, seed: int = 0) -> str:
    """Opset 13: x float32 [N, 4, width] -> MatMul -> LayerNorm as the exporters write it before
    opset 17 (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul, Add) -> y."""
    rng = np.random.RandomState(seed)
    inits = [_const("w", rng.randn(width, width).astype(np.float32)),
             _const("two", np.array(2.0, np.float32)), _const("eps", np.array(1e-5, np.float32)),
             _const("gamma", np.ones(width, np.float32)), _const("beta", np.zeros(width, np.float32))]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="MatMul_0"),
        helper.make_node("ReduceMean", ["h"], ["mean"], axes=[-1], name="ReduceMean_1"),
        helper.make_node("Sub", ["h", "mean"], ["centred"], name="Sub_2"),
        helper.make_node("Pow", ["centred", "two"], ["sq"], name="Pow_3"),
        helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1], name="ReduceMean_4"),
        helper.make_node("Add", ["var", "eps"], ["var_eps"], name="Add_5"),
        helper.make_node("Sqrt", ["var_eps"], ["std"], name="Sqrt_6"),
        helper.make_node("Div", ["centred", "std"], ["normed"], name="Div_7"),
        helper.make_node("Mul", ["normed", "gamma"], ["scaled"], name="Mul_8"),
        helper.make_node("Add", ["scaled", "beta"], ["y"], name="Add_9"),
    ]
    graph = helper.make_graph(
        nodes, "layernorm_tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, width])], inits)
    return _save(graph, path, 13)
