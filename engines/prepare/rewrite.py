"""Graph rewrites a target runtime needs: I/O dtypes, an fp32 interior, a cut before NMS.

All edits go through onnx.helper / numpy_helper / onnx.utils.Extractor on the parsed
model; nothing is hand-edited at the protobuf byte level.
"""
import json
from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from alpr.errors import ModelError

FLOAT, FLOAT16, UINT8 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.UINT8

#: metadata key telling host code where a model was cut and what the cut-off NMS did
CUT_METADATA_KEY = "alpr.cut_before_nms"


def _elem_type(value: onnx.ValueInfoProto) -> int:
    return value.type.tensor_type.elem_type


def _consumers(graph: onnx.GraphProto, name: str) -> List[onnx.NodeProto]:
    return [n for n in graph.node if name in n.input]


def _rename_input_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def retype_inputs(model: onnx.ModelProto, from_type: int, notes: List[str]) -> List[str]:
    """Graph inputs of `from_type` become float32; a Cast back is inserted only where needed.

    A consumer that is already Cast(to=FLOAT) (the usual uint8 / fp16 preamble) is bypassed,
    so e.g. TensorRT 8.2, which has no UINT8 type at all, never sees the original type.
    """
    graph = model.graph
    init_names = {t.name for t in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    changed = []
    for value in graph.input:
        if value.name in init_names or _elem_type(value) != from_type:
            continue
        name = value.name
        value.type.tensor_type.elem_type = FLOAT
        cast_back = name + "__as_" + TensorProto.DataType.Name(from_type).lower()
        needs_back = False
        for node in _consumers(graph, name):
            to = [a.i for a in node.attribute if a.name == "to"]
            if node.op_type == "Cast" and to == [FLOAT] and node.output[0] not in graph_outputs:
                _rename_input_uses(graph, node.output[0], name)
                graph.node.remove(node)
            else:
                needs_back = True
                for i, inp in enumerate(node.input):
                    if inp == name:
                        node.input[i] = cast_back
        if needs_back:
            graph.node.insert(0, helper.make_node("Cast", [name], [cast_back], to=from_type,
                                                  name=cast_back + "_cast"))
        changed.append(name)
        notes.append("input %s: %s -> float32%s" % (name, TensorProto.DataType.Name(from_type),
                                                    " (+Cast back)" if needs_back else ""))
    return changed


def retype_outputs(model: onnx.ModelProto, from_type: int, notes: List[str]) -> List[str]:
    """Graph outputs of `from_type` become float32 through a final Cast."""
    graph = model.graph
    changed = []
    for value in graph.output:
        if _elem_type(value) != from_type:
            continue
        name = value.name
        inner = name + "__" + TensorProto.DataType.Name(from_type).lower()
        for node in graph.node:
            for i, out in enumerate(node.output):
                if out == name:
                    node.output[i] = inner
        _rename_input_uses(graph, name, inner)
        graph.node.append(helper.make_node("Cast", [inner], [name], to=FLOAT, name=name + "_cast"))
        value.type.tensor_type.elem_type = FLOAT
        changed.append(name)
        notes.append("output %s: %s -> float32" % (name, TensorProto.DataType.Name(from_type)))
    return changed


def _fp32_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)


def _graph_to_fp32(graph: onnx.GraphProto) -> int:
    count = 0
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == FLOAT16:
            graph.initializer[i].CopyFrom(_fp32_tensor(tensor))
            count += 1
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if _elem_type(value) == FLOAT16:
            value.type.tensor_type.elem_type = FLOAT
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == FLOAT16:
                a.t.CopyFrom(_fp32_tensor(a.t))
                count += 1
            elif a.name in ("to", "dtype") and a.type == onnx.AttributeProto.INT and a.i == FLOAT16:
                a.i = FLOAT
                count += 1
            elif a.type == onnx.AttributeProto.GRAPH:
                count += _graph_to_fp32(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                count += sum(_graph_to_fp32(g) for g in a.graphs)
    return count


def float16_to_float32(model: onnx.ModelProto, notes: List[str]) -> bool:
    """Make the whole graph float32 (weights, casts, I/O); the TRT builder's FP16 flag then
    picks half-precision kernels itself. Returns whether anything changed."""
    count = _graph_to_fp32(model.graph)
    if count:
        notes.append("float16 -> float32 throughout (%d tensors/attributes)" % count)
    return bool(count)


def _const_scalar(graph: onnx.GraphProto, name: str) -> Optional[float]:
    for t in graph.initializer:
        if t.name == name:
            return float(numpy_helper.to_array(t).reshape(-1)[0])
    for n in graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return float(numpy_helper.to_array(n.attribute[0].t).reshape(-1)[0])
    return None


def cut_before_nms(model: onnx.ModelProto, notes: List[str]) -> Optional[onnx.ModelProto]:
    """The sub-model from the inputs to the first NonMaxSuppression's boxes and scores, or None.

    The NMS parameters (IoU, score threshold, max boxes, centre-point box) are recorded in
    the model metadata under CUT_METADATA_KEY, so the host-NMS adapter can reproduce them.
    """
    nms = [n for n in model.graph.node if n.op_type == "NonMaxSuppression"]
    if not nms:
        return None
    node = nms[0]
    params = {"boxes": node.input[0], "scores": node.input[1]}  # type: Dict[str, object]
    for key, index in (("max_output_boxes_per_class", 2), ("iou_threshold", 3),
                       ("score_threshold", 4)):
        if len(node.input) > index and node.input[index]:
            params[key] = _const_scalar(model.graph, node.input[index])
    params["center_point_box"] = int(next((a.i for a in node.attribute
                                           if a.name == "center_point_box"), 0))
    from onnx.utils import Extractor

    inputs = [i.name for i in model.graph.input
              if i.name not in {t.name for t in model.graph.initializer}]
    try:
        cut = Extractor(onnx.shape_inference.infer_shapes(model)).extract_model(inputs, [node.input[0], node.input[1]])
    except Exception as exc:
        raise ModelError("cannot cut the model before NMS: %s" % exc) from exc
    cut.metadata_props.extend(model.metadata_props)
    entry = cut.metadata_props.add()
    entry.key, entry.value = CUT_METADATA_KEY, json.dumps(params, sort_keys=True)
    for out in cut.graph.output:
        if not out.type.tensor_type.HasField("shape"):
            raise ModelError("cut tensor %s has no inferred shape" % out.name)
    notes.append("cut before NonMaxSuppression: outputs %s, %s (NMS runs on the host)"
                 % (node.input[0], node.input[1]))
    return cut


def cut_info(model: onnx.ModelProto) -> Optional[Dict[str, object]]:
    """The recorded NMS parameters of a model cut by cut_before_nms, else None."""
    for entry in model.metadata_props:
        if entry.key == CUT_METADATA_KEY:
            return json.loads(entry.value)
    return None


def _names_used(node: onnx.NodeProto) -> List[str]:
    """Every tensor name a node reads, including outer-scope names in its subgraphs."""
    names = list(node.input)
    for attr in node.attribute:
        graphs = list(attr.g.node and [attr.g] or []) + list(attr.graphs)
        for sub in graphs:
            for inner in sub.node:
                names.extend(_names_used(inner))
    return names


def keep_outputs(model: onnx.ModelProto, keep: List[str],
                 notes: List[str]) -> List[onnx.ValueInfoProto]:
    """Make `model` compute only the graph outputs `keep`: the others go, with every node and
    initialiser that only they needed (e.g. a YOLO seg head's mask-prototype branch, which
    our detector never reads). Returns the dropped outputs' ValueInfos; the kept outputs'
    values are unchanged bit for bit."""
    graph = model.graph
    names = [o.name for o in graph.output]
    missing = [k for k in keep if k not in names]
    if missing:
        raise ModelError("model has no output(s) %s (has %s)" % (missing, names))
    dropped = [o for o in graph.output if o.name not in keep]
    if not dropped:
        return []
    needed = set(keep)
    live = []  # type: List[onnx.NodeProto]
    for node in reversed(list(graph.node)):  # nodes are stored in topological order
        if any(out in needed for out in node.output):
            live.append(node)
            needed.update(_names_used(node))
    kept_outputs = [o for o in graph.output if o.name in keep]
    before = len(graph.node)
    del graph.output[:]
    graph.output.extend(kept_outputs)
    del graph.node[:]
    graph.node.extend(reversed(live))
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    notes.append("dropped output(s) %s and the %d node(s) only they needed"
                 % (", ".join(o.name for o in dropped), before - len(live)))
    return [onnx.ValueInfoProto.FromString(o.SerializeToString()) for o in dropped]
