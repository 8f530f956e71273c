"""Opset down-conversion: onnx.version_converter where it works, per-op patches where it cannot.

onnx's converter has no down-adapters for many ops (e.g. Mul 14->13, Pow 15->13,
Shape 15->13), and onnx 1.11 (the Nano's Python 3.6) crashes on an opset newer than it
knows. So every node is checked against the schema the target opset defines; a node
whose schema changed in between is either a type-only change (kept as is) or patched
with onnx.helper, or the conversion stops with a clear message.
"""
import logging
from typing import Callable, Dict, List, Optional, Tuple

import onnx
from onnx import defs, helper, numpy_helper

from alpr.errors import ModelError

log = logging.getLogger(__name__)

#: highest IR version each target opset's runtimes accept (ORT 1.10: IR 8 / opset 15)
IR_FOR_OPSET = {11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8}

#: (op, since_version) whose change only widened the allowed types; the older schema
#: runs the same node as long as it uses the older types (checked by the checker)
TYPE_ONLY = {
    ("Add", 14), ("Sub", 14), ("Mul", 14), ("Div", 14), ("Relu", 14), ("Pow", 15),
    ("Identity", 14), ("Identity", 16), ("Identity", 19), ("Where", 16), ("LeakyRelu", 16),
    ("PRelu", 16), ("If", 16), ("Loop", 16), ("Scan", 16), ("Constant", 19), ("Size", 19),
    ("Equal", 19), ("CumSum", 14), ("Less", 13), ("Greater", 13), ("LessOrEqual", 16),
    ("GreaterOrEqual", 16), ("Trilu", 14), ("GRU", 14), ("LSTM", 14), ("RNN", 14),
    ("Max", 13), ("Min", 13), ("Sum", 13), ("Mean", 13), ("ReduceMax", 13), ("Gather", 13),
}


def _attr(node: onnx.NodeProto, name: str) -> Optional[onnx.AttributeProto]:
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def _drop_attr(node: onnx.NodeProto, name: str, allowed_values: Tuple = ()) -> None:
    """Remove attribute `name` when absent-equivalent; refuse when its value changes semantics."""
    a = _attr(node, name)
    if a is None:
        return
    value = helper.get_attribute_value(a)
    if allowed_values and value not in allowed_values:
        raise ModelError("node %s (%s) uses %s=%r, which the target opset cannot express"
                         % (node.name, node.op_type, name, value))
    node.attribute.remove(a)


class _Graph(object):
    """Constant lookup for one graph, so input-to-attribute patches can read values."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.consts = {t.name: t for t in graph.initializer}  # type: Dict[str, onnx.TensorProto]
        for n in graph.node:
            if n.op_type == "Constant" and _attr(n, "value") is not None:
                self.consts[n.output[0]] = _attr(n, "value").t

    def const_list(self, name: str, node: onnx.NodeProto) -> List[int]:
        if name not in self.consts:
            raise ModelError("node %s (%s): input %s must be a constant to move it into an "
                             "attribute for the target opset" % (node.name, node.op_type, name))
        return [int(v) for v in numpy_helper.to_array(self.consts[name]).reshape(-1)]


def _patch_reshape(node: onnx.NodeProto, g: _Graph) -> None:
    _drop_attr(node, "allowzero", (0,))


def _patch_shape(node: onnx.NodeProto, g: _Graph) -> None:
    start, end = _attr(node, "start"), _attr(node, "end")
    if (start is not None and start.i != 0) or end is not None:
        raise ModelError("node %s: Shape with start/end needs opset 15" % node.name)
    _drop_attr(node, "start")


def _patch_cast(node: onnx.NodeProto, g: _Graph) -> None:
    _drop_attr(node, "saturate")  # only affects float8 targets, which older opsets lack


def _patch_split(node: onnx.NodeProto, g: _Graph) -> None:
    # Split-13 without `split` divides equally into len(outputs) parts, as num_outputs does
    # when the axis divides evenly (ONNX requires even splits to be expressible either way).
    _drop_attr(node, "num_outputs")


def _patch_reduce(node: onnx.NodeProto, g: _Graph) -> None:
    """Reduce*-18 takes axes as an input; Reduce*-13 takes them as an attribute."""
    if len(node.input) > 1 and node.input[1]:
        axes = g.const_list(node.input[1], node)
        del node.input[1:]
        node.attribute.extend([helper.make_attribute("axes", axes)])
    noop = _attr(node, "noop_with_empty_axes")
    if noop is not None:
        if noop.i:
            raise ModelError("node %s uses noop_with_empty_axes=1" % node.name)
        node.attribute.remove(noop)


def _patch_resize(node: onnx.NodeProto, g: _Graph) -> None:
    _drop_attr(node, "antialias", (0,))
    _drop_attr(node, "keep_aspect_ratio_policy", (b"stretch",))
    _drop_attr(node, "axes")


def _patch_pad(node: onnx.NodeProto, g: _Graph) -> None:
    if len(node.input) > 3 and node.input[3]:
        raise ModelError("node %s: Pad with axes needs opset 18" % node.name)


#: (op, since_version of the newer schema) -> patch making the node valid for the older one
PATCHES = {
    ("Reshape", 14): _patch_reshape, ("Reshape", 19): _patch_reshape,
    ("Shape", 15): _patch_shape, ("Shape", 19): _patch_shape,
    ("Cast", 19): _patch_cast, ("Split", 18): _patch_split,
    ("Resize", 18): _patch_resize, ("Resize", 19): _patch_resize,
    ("Pad", 18): _patch_pad, ("Pad", 19): _patch_pad,
}  # type: Dict[Tuple[str, int], Callable[[onnx.NodeProto, _Graph], None]]
for _op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
            "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"):
    PATCHES[(_op, 18)] = _patch_reduce


def model_opset(model: onnx.ModelProto) -> int:
    """The default-domain opset a model imports."""
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ModelError("model imports no default-domain opset")


def _exists_at(op: str, version: int) -> bool:
    try:
        defs.get_schema(op, version)
        return True
    except Exception:
        return False


def _changes(op: str, source: int, target: int) -> List[int]:
    """since_versions of `op` in (target, source]: the schema changes crossed going down."""
    out = []
    version = source
    while version > target:
        if not _exists_at(op, version):
            raise ModelError("op %s is unknown to onnx %s at opset %d"
                             % (op, onnx.__version__, version))
        schema = defs.get_schema(op, version)
        if schema.since_version <= target:
            break
        out.append(schema.since_version)
        version = schema.since_version - 1
    return out


def _patch_graph(graph: onnx.GraphProto, source: int, target: int,
                 notes: Dict[str, int]) -> None:
    g = _Graph(graph)
    for node in graph.node:
        for a in node.attribute:  # subgraphs of If / Loop / Scan
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _patch_graph(sub, source, target, notes)
        if node.domain not in ("", "ai.onnx"):
            continue
        if not _exists_at(node.op_type, target):
            raise ModelError("op %s does not exist in opset %d" % (node.op_type, target))
        for since in _changes(node.op_type, source, target):
            key = (node.op_type, since)
            if key in PATCHES:
                PATCHES[key](node, g)
                label = "%s-%d patched" % key
            elif key in TYPE_ONLY:
                label = "%s-%d type-only" % key
            else:
                raise ModelError("no down-conversion for %s from opset %d to %d (node %s)"
                                 % (node.op_type, since, target, node.name))
            notes[label] = notes.get(label, 0) + 1


def _onnx_version() -> Tuple[int, int]:
    parts = (onnx.__version__.split(".") + ["0"])[:2]
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def _converter_is_safe(source: int) -> bool:
    """Whether onnx.version_converter may be tried: its C++ code kills the process (SIGSEGV)
    on opsets newer than its release knows, and onnx 1.11 (the Nano's Python 3.6) also
    crashed here on a graph cut before NMS, so it is only used from onnx 1.13 on."""
    return source <= defs.onnx_opset_version() and _onnx_version() >= (1, 13)


def convert_opset(model: onnx.ModelProto, target: int, notes: List[str]) -> onnx.ModelProto:
    """A copy of `model` at default-domain opset <= target, valid for the onnx checker."""
    source = model_opset(model)
    if source <= target:
        return model
    converted = None
    if _converter_is_safe(source):
        from onnx import version_converter

        try:
            converted = version_converter.convert_version(model, target)
            notes.append("onnx.version_converter %d->%d" % (source, target))
        except Exception as exc:  # missing adapters: fall back to per-op patches
            notes.append("onnx.version_converter %d->%d failed (%s); per-op patches used"
                          % (source, target, str(exc).strip().splitlines()[-1].split(": ")[-1]))
    if converted is None:
        converted = onnx.ModelProto()
        converted.CopyFrom(model)
        counts = {}  # type: Dict[str, int]
        _patch_graph(converted.graph, source, target, counts)
        notes.append("opset %d->%d: %s" % (source, target, ", ".join(
            "%s x%d" % kv for kv in sorted(counts.items())) or "no node changes"))
        for imp in converted.opset_import:
            if imp.domain in ("", "ai.onnx"):
                imp.version = target
    converted.ir_version = min(converted.ir_version, IR_FOR_OPSET.get(target, 8))
    try:
        onnx.checker.check_model(converted)
    except Exception as exc:
        raise ModelError("opset %d conversion produced an invalid model: %s" % (target, exc)) from exc
    return converted
