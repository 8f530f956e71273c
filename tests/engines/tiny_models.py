"""Tiny deterministic ONNX models with the engines' I/O contracts, built in the tests.

- raw_detector: platedet's contract (float16 images [1,3,S,S] -> float16 [1, 4+1+masks, N]
  plus mask prototypes); fixed candidate boxes whose scores rise with the image's mean;
- slot_ocr_model: fast-plate-ocr's contract (uint8 [N,H,W,C] -> softmax [N, slots, vocab]),
  any channel count, character choice driven by the crop's pixels;
- encdec_models: platerec's contract (float16 encoder [B,3,H,W] -> [B,C]; decoder int64
  tokens [B,S] + context [B,C] -> logits [B,S,V]) plus a tokenizer.json; the decoder
  follows a fixed token chain (a cycle without the end token when asked), shifted by
  the context so different crops read differently.
Opset 13 and IR 7 by default, so onnxruntime 1.10 (Python 3.6) loads them too.
"""
import json
import string
from typing import List, Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
#: candidate boxes of the tests' tiny raw detector (cx, cy, w, h in its 64x64 input)
RAW_BOXES = [(32, 40, 24, 8), (33, 40, 22, 8), (10, 10, 6, 4)]
TOKENS = list("<" + string.ascii_uppercase + string.digits + " >~") + ["[br]", "[us]", "[ue]", "[ru]"]


def _save(nodes, name, inputs, outputs, inits, path: str, opset: int = OPSET) -> str:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="alpr-engines-tests")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _c(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def raw_detector(path: str, boxes: Sequence[Sequence[float]], gains: Sequence[float],
                 biases: Sequence[float], size: int = 64, masks: int = 32,
                 dtype: int = TensorProto.FLOAT16) -> str:
    """[1,3,S,S] -> [1, 4+1+masks, N]: candidate i is boxes[i] (cx, cy, w, h in input
    pixels) with score sigmoid(gains[i] * mean(image) + biases[i]); protos [1,masks,4,4]."""
    n = len(boxes)
    box_rows = np.asarray(boxes, np.float32).T.reshape(1, 4, n)
    nodes = [
        helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1, 2, 3], keepdims=0),  # [1]
        helper.make_node("Reshape", ["mean", "shape_111"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "gains"], ["scaled"]),
        helper.make_node("Add", ["scaled", "biases"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),  # [1,1,N]
        helper.make_node("Concat", ["box_rows", "score", "mask_rows"], ["head"], axis=1),
        helper.make_node("Cast", ["head"], ["output0"], to=dtype),
        helper.make_node("Cast", ["protos_c"], ["output1"], to=dtype),
    ]
    inits = [_c("shape_111", np.array([1, 1, 1], np.int64)),
             _c("gains", np.asarray(gains, np.float32).reshape(1, 1, n)),
             _c("biases", np.asarray(biases, np.float32).reshape(1, 1, n)),
             _c("box_rows", box_rows),
             _c("mask_rows", np.zeros((1, masks, n), np.float32)),
             _c("protos_c", np.zeros((1, masks, 4, 4), np.float32))]
    return _save(nodes, "raw_detector_tiny",
                 [helper.make_tensor_value_info("images", dtype, [1, 3, size, size])],
                 [helper.make_tensor_value_info("output0", dtype, [1, 4 + 1 + masks, n]),
                  helper.make_tensor_value_info("output1", dtype, [1, masks, 4, 4])],
                 inits, path)


def slot_ocr_model(path: str, height: int = 16, width: int = 32, channels: int = 1,
                   slots: int = 7, vocab: int = 37, seed: int = 0, outputs: str = "plate",
                   regions: int = 0) -> str:
    """uint8 [N,H,W,C] -> softmax [N, slots, vocab] named `outputs` (+ 'region' [N, regions])."""
    rng = np.random.RandomState(seed)
    feat = height * width * channels
    nodes = [
        helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "inv255"], ["xn"]),
        helper.make_node("Reshape", ["xn", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Reshape", ["logits", "out_shape"], ["logits3"]),
        helper.make_node("Softmax", ["logits3"], [outputs], axis=-1),
    ]
    inits = [_c("inv255", np.array(1 / 255.0, np.float32)),
             _c("flat_shape", np.array([0, -1], np.int64)),
             _c("w", (rng.randn(feat, slots * vocab) * 0.2).astype(np.float32)),
             _c("out_shape", np.array([0, slots, vocab], np.int64))]
    outs = [helper.make_tensor_value_info(outputs, TensorProto.FLOAT, ["batch", slots, vocab])]
    if regions:
        nodes += [helper.make_node("MatMul", ["flat", "wr"], ["rlog"]),
                  helper.make_node("Softmax", ["rlog"], ["region"], axis=-1)]
        inits.append(_c("wr", (rng.randn(feat, regions) * 0.2).astype(np.float32)))
        outs.append(helper.make_tensor_value_info("region", TensorProto.FLOAT, ["batch", regions]))
    return _save(nodes, "slot_ocr_tiny",
                 [helper.make_tensor_value_info("input", TensorProto.UINT8,
                                                ["batch", height, width, channels])],
                 outs, inits, path)


def encdec_models(folder: str, chain: Optional[List[str]] = None, size: int = 8,
                  ctx: int = 4, batch_safe: bool = True) -> List[str]:
    """encoder.onnx, decoder.onnx and tokenizer.json in `folder`; the decoder emits `chain`
    (tokens after '<'); context component 0 (the crop's mean red) adds to 'Z' logits so a
    bright-red crop reads Z instead. `batch_safe=False` mixes rows like platerec's decoder."""
    chain = chain or ["[br]", "A", "B", "C", "1", "2", "3", "4", ">"]
    vocab = len(TOKENS)
    index = {t: i for i, t in enumerate(TOKENS)}
    emb = np.zeros((vocab, vocab), np.float32)
    prev = "<"
    for token in chain:
        emb[index[prev], index[token]] = 8.0
        prev = token
    wc = np.zeros((ctx, vocab), np.float32)
    wc[0, index["Z"]] = 20.0
    enc_w = np.zeros((3, ctx), np.float32)
    enc_w[0, 0] = 1.0  # context[0] = mean of the first (R) channel after normalisation
    enc = _save(
        [helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
         helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "enc_w"], ["c"]),
         helper.make_node("Cast", ["c"], ["output"], to=TensorProto.FLOAT16)],
        "encoder_tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT16, ["batch_size", 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT16, ["batch_size", ctx])],
        [_c("enc_w", enc_w)], folder + "/encoder.onnx")
    nodes = [
        helper.make_node("Gather", ["emb", "input"], ["e"], axis=0),  # [B,S,V]
        helper.make_node("Cast", ["context"], ["cf"], to=TensorProto.FLOAT),
    ]
    if not batch_safe:  # every row sees the batch's summed context, as platerec's does
        nodes.append(helper.make_node("ReduceSum", ["cf", "ax0"], ["cmix"], keepdims=1))
        ctx_name = "cmix"
    else:
        ctx_name = "cf"
    nodes += [
        helper.make_node("MatMul", [ctx_name, "wc"], ["cb"]),  # [B or 1, V]
        helper.make_node("Unsqueeze", ["cb", "ax1"], ["cb3"]),
        helper.make_node("Add", ["e", "cb3"], ["logits"]),
        helper.make_node("Cast", ["logits"], ["output"], to=TensorProto.FLOAT16),
    ]
    dec = _save(nodes, "decoder_tiny",
                [helper.make_tensor_value_info("input", TensorProto.INT64, ["batch_size", "seq"]),
                 helper.make_tensor_value_info("context", TensorProto.FLOAT16, ["batch_size", ctx])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT16,
                                               ["batch_size", "seq", vocab])],
                [_c("emb", emb), _c("wc", wc), _c("ax1", np.array([1], np.int64)),
                 _c("ax0", np.array([0], np.int64))],
                folder + "/decoder.onnx")
    tok = folder + "/tokenizer.json"
    with open(tok, "w") as fh:
        json.dump({"itos": {str(i): t for i, t in enumerate(TOKENS)},
                   "stoi": {t: i for i, t in enumerate(TOKENS)},
                   "special_tokens": TOKENS[40:], "block_size": 32}, fh)
    return [enc, dec, tok]
