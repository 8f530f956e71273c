"""`alpr models prepare`: make a node-ready ONNX copy of a model for one target runtime.

Targets differ in what they accept: TensorRT 8.2 (the Nano's JetPack 4.6) parses opset
<= 13, has no UINT8 type and no NonMaxSuppression; TensorRT 10 takes newer opsets and
NMS but we still hand it float32 I/O; ONNX Runtime 1.10 (the Nano's Python 3.6 wheel)
runs opset <= 15 and IR <= 8.
"""
import os
from collections import namedtuple
from typing import List, Optional

import onnx
from onnx import TensorProto

from alpr.errors import ConfigError, ModelError
from engines.prepare import opset, rewrite
from engines.model_files import sha256_file

#: what a target needs: highest opset, fp32 I/O, fp32 interior, uint8 inputs as float32,
#: cut before NMS
Target = namedtuple("Target", "name max_opset io_fp32 full_fp32 uint8_to_fp32 cut_nms")

TARGETS = {
    "trt8.2": Target("trt8.2", 13, True, True, True, True),
    "trt10": Target("trt10", 20, True, False, True, False),
    "ort1.10": Target("ort1.10", 15, False, False, False, False),
}

Prepared = namedtuple("Prepared", "path target notes cut source_sha256")


def get_target(name: str) -> Target:
    """The Target called `name`, or ConfigError listing the choices."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError("unknown target %r (choose from %s)" % (name, ", ".join(sorted(TARGETS))))


def load_model(path: str) -> onnx.ModelProto:
    """Parse an ONNX file, wrapping read/parse errors in ModelError."""
    if not os.path.isfile(path):
        raise ModelError("model file not found: %s" % path)
    try:
        return onnx.load(path)
    except Exception as exc:
        raise ModelError("cannot parse ONNX model %s: %s" % (path, exc)) from exc


def default_output(src: str, target: str, out_dir: str = ".") -> str:
    """<out_dir>/<model stem>.<target>.onnx"""
    stem = os.path.splitext(os.path.basename(src))[0]
    return os.path.join(out_dir, "%s.%s.onnx" % (stem, target))


def convert(model: onnx.ModelProto, target: Target, notes: List[str]) -> onnx.ModelProto:
    """The model rewritten for `target` (cut, dtypes, opset), in memory."""
    work = onnx.ModelProto()
    work.CopyFrom(model)
    if target.cut_nms:
        cut = rewrite.cut_before_nms(work, notes)
        if cut is not None:
            work = cut
    if target.full_fp32:
        rewrite.float16_to_float32(work, notes)
    if target.uint8_to_fp32:
        rewrite.retype_inputs(work, TensorProto.UINT8, notes)
    if target.io_fp32:
        rewrite.retype_inputs(work, TensorProto.FLOAT16, notes)
        rewrite.retype_outputs(work, TensorProto.FLOAT16, notes)
    work = opset.convert_opset(work, target.max_opset, notes)
    try:
        onnx.checker.check_model(work)
    except Exception as exc:
        raise ModelError("prepared model for %s fails the ONNX checker: %s" % (target.name, exc)) from exc
    entry = work.metadata_props.add()
    entry.key, entry.value = "alpr.prepared_for", target.name
    return work


def prepare(src: str, target_name: str, out: Optional[str] = None) -> Prepared:
    """Convert the ONNX file `src` for `target_name` and save it (default: ./<stem>.<target>.onnx)."""
    target = get_target(target_name)
    model = load_model(src)
    notes = ["source %s: opset %d, IR %d" % (os.path.basename(src), opset.model_opset(model),
                                               model.ir_version)]
    converted = convert(model, target, notes)
    out = out or default_output(src, target.name)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        os.makedirs(parent)
    tmp = out + ".tmp"
    onnx.save(converted, tmp)
    os.replace(tmp, out)  # readers never see half a file
    return Prepared(out, target.name, notes, rewrite.cut_info(converted),
                    sha256_file(src))
