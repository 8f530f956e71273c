"""A cached copy of a CTC recogniser whose class head keeps only the plate alphabet.

PP-OCRv6's recogniser ends in MatMul(120 x 18,710) -> Add -> Softmax over a Chinese,
Japanese and Latin vocabulary. A plate needs blank + 0-9 + A-Z (lower case is kept and
upper-cased later: it absorbs what the model reads as lower case, which the full model's
caller would fold the same way) + a few separators: slicing the head's weight columns and
bias to those classes gives a model 43 % smaller whose argmax over its classes equals the
full model's argmax restricted to the same classes (softmax is monotonic; the logits of
the kept classes are computed exactly as before). `equivalence` checks that on crops.

The copy is made once into the engine cache with the onnx package; a JSON sidecar holds
the kept vocabulary, so later loads parse nothing. The copy is written with IR version 7
(the original's IR 10 is more than the Nano's onnxruntime 1.10 reads; its opset 11
needs no more). `trimmed_copy` can also return the full model with the class indices
(`CtcOcr(classes=...)` restricts its argmax to them: same reads, more time).
"""
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from alpr.errors import ModelError
from engines.model_files import sha256_file, write_atomic

log = logging.getLogger(__name__)

VOCABULARY_KEY = "alpr_vocabulary"  # the copy's own vocabulary (JSON), in its metadata
COPY_VERSION = 2  # how the copy is made (IR 7, vocabulary metadata): a cached older copy is remade
IR_VERSION = 7  # ONNX IR of the copy: enough for its opset 11, loads on onnxruntime >= 1.6

#: what a plate can hold, in the trimmed head's order after the blank
PLATE_ALPHABET = (list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                  + list("abcdefghijklmnopqrstuvwxyz") + ["-", ".", " "])


def metadata_vocabulary(path: str) -> List[str]:
    """The full vocabulary of a PP-OCR recogniser: blank, its `character` metadata lines,
    then a space (PP-OCR's use_space_char). Read with onnx: the Nano's onnxruntime 1.10
    cannot open the IR-10 original at all."""
    import onnx

    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    if VOCABULARY_KEY in meta:  # a copy this module wrote
        return list(json.loads(meta[VOCABULARY_KEY]))
    character = meta.get("character")
    if not character:
        raise ModelError("%s has no 'character' metadata: not a PP-OCR recogniser?" % path)
    return ["<blank>"] + character.split("\n") + [" "]


def class_indices(vocabulary: Sequence[str], keep: Sequence[str]) -> Tuple[List[int], List[str]]:
    """(indices into `vocabulary`, the trimmed vocabulary) for blank + the `keep` symbols
    the vocabulary has, in `keep`'s order."""
    where = {}  # type: Dict[str, int]
    for i, symbol in enumerate(vocabulary):
        where.setdefault(symbol, i)
    indices, kept = [0], [vocabulary[0]]
    for symbol in keep:
        if where.get(symbol, 0) != 0:
            indices.append(where[symbol])
            kept.append(symbol)
    return indices, kept


def trimmed_copy(path: str, cache_dir: str,
                 keep: Sequence[str] = PLATE_ALPHABET) -> Tuple[str, List[str], Optional[List[int]]]:
    """(model path, its vocabulary, class indices to restrict the argmax to or None).

    The trimmed copy when it can be made or is cached; else the original with the full
    model's indices of the kept classes."""
    sha = sha256_file(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    out = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)),
                       "%s-%s.plate-head.onnx" % (stem, sha[:12]))
    sidecar = out + ".json"
    if os.path.isfile(sidecar) and os.path.isfile(out):
        with open(sidecar) as fh:
            record = json.load(fh)
        if record.get("source_sha256") == sha and record.get("keep") == list(keep) \
                and record.get("copy_version") == COPY_VERSION:
            return out, record["vocabulary"], None
    try:
        vocabulary = metadata_vocabulary(path)
    except ImportError as exc:
        raise ModelError("reading %s's vocabulary needs the onnx package (%s)" % (path, exc))
    indices, kept = class_indices(vocabulary, keep)
    try:
        model = trim_head(path, indices)
    except ModelError as exc:  # another head shape: the full model, argmax restricted
        log.info("%s: %s; its full head runs", os.path.basename(path), exc)
        return path, kept, indices
    entry = model.metadata_props.add()
    entry.key, entry.value = VOCABULARY_KEY, json.dumps(kept)
    write_atomic(out, model.SerializeToString())
    record = {"source": path, "source_sha256": sha, "keep": list(keep), "vocabulary": kept,
              "indices": indices, "copy_version": COPY_VERSION}
    write_atomic(sidecar, json.dumps(record, indent=1).encode("utf-8"))
    log.info("%s: class head trimmed %d -> %d classes (copy %s)", os.path.basename(path),
             len(vocabulary), len(indices), out)
    return out, kept, None


def trim_head(path: str, indices: Sequence[int]):
    """The model with its final MatMul -> Add (-> Identity) -> Softmax sliced to `indices`."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    inits = {t.name: t for t in graph.initializer}
    node = producer.get(graph.output[0].name)
    chain = []
    while node is not None and node.op_type in ("Softmax", "Identity", "Add", "MatMul"):
        chain.append(node)
        if node.op_type == "MatMul":
            break
        node = producer.get(node.input[0])
    ops = [n.op_type for n in chain]
    if not ops or ops[0] != "Softmax" or ops[-1] != "MatMul" or "Add" not in ops:
        raise ModelError("%s does not end in MatMul -> Add -> Softmax (found %s)" % (path, ops))
    matmul, add = chain[-1], [n for n in chain if n.op_type == "Add"][0]
    weight = inits.get(matmul.input[1])
    bias = inits.get(add.input[1])
    if weight is None or bias is None:
        raise ModelError("%s: the class head's weight or bias is not a constant" % path)
    # opset 11 needs no IR beyond 7: an older onnxruntime (1.10: IR <= 8) loads the copy
    model.ir_version = min(model.ir_version, IR_VERSION)
    cols = np.asarray(indices, dtype=np.int64)
    w = numpy_helper.to_array(weight)[:, cols]
    b = numpy_helper.to_array(bias)[cols]
    weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w), weight.name))
    bias.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(b), bias.name))
    dims = graph.output[0].type.tensor_type.shape.dim
    dims[len(dims) - 1].Clear()
    dims[len(dims) - 1].dim_value = len(cols)
    del graph.value_info[:]  # shapes inferred for the full head are stale
    return model


def equivalence(full: str, trimmed: str, indices: Sequence[int],
                inputs: Sequence[np.ndarray]) -> Dict[str, int]:
    """On each input: does the trimmed argmax equal the full argmax restricted to
    `indices`? Counts time steps compared and those that differ."""
    import onnx
    import onnxruntime as ort

    original = onnx.load(full)
    original.ir_version = min(original.ir_version, IR_VERSION)  # as the copy: loads on 1.10
    opts = ort.SessionOptions()
    a = ort.InferenceSession(original.SerializeToString(), opts,
                             providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(trimmed, opts, providers=["CPUExecutionProvider"])
    name = a.get_inputs()[0].name
    cols = np.asarray(indices)
    steps = differ = 0
    for x in inputs:
        pa = a.run(None, {name: x})[0]
        pb = b.run(None, {name: x})[0]
        want = pa[..., cols].argmax(axis=-1)
        got = pb.argmax(axis=-1)
        steps += int(want.size)
        differ += int((want != got).sum())
    return {"inputs": len(inputs), "steps": steps, "differ": differ}
