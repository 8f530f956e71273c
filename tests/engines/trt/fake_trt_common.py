"""Shared machinery of the fake TensorRT modules (fake_tensorrt8 / fake_tensorrt10).

Not an API: each fake module wraps these helpers in classes exposing only its own
version's methods. A "network" is the parsed ONNX (inputs, outputs, dtypes); a fake
"engine" is that ONNX plus its I/O table and profile, serialized with a version tag;
"executing" it runs the ONNX with onnxruntime on the bytes found at the bound device
pointers (fake_pycuda memory) when the stream is synchronised, and writes the outputs
back there. So a wrong pointer, size, dtype or a missing synchronize shows up in tests.
"""
import base64
import json
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx

import fake_pycuda

#: onnx elem type -> numpy dtype name
ONNX_TO_NP = {1: "float32", 10: "float16", 6: "int32", 7: "int64", 9: "bool", 2: "uint8", 3: "int8"}


class Tensor(object):
    """ITensor stand-in: name, shape (-1 = dynamic), dtype name."""

    def __init__(self, name: str, shape: Tuple[int, ...], dtype: str) -> None:
        self.name = name
        self.shape = shape
        self.dtype_name = dtype


def parse_onnx(data: bytes, max_opset: int, int64_as_int32: bool, unsupported_inputs: Tuple[str, ...],
               unsupported_ops: Tuple[str, ...]) -> Tuple[Optional[dict], List[str]]:
    """The parsed network, or (None, errors) the way TensorRT's ONNX parser reports them."""
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:
        return None, ["ModelImporter: failed to parse ONNX model: %s" % exc]
    opset = max(i.version for i in model.opset_import if i.domain in ("", "ai.onnx"))
    errors = []
    if opset > max_opset:
        errors.append("Unsupported ONNX opset %d (this parser supports up to %d)" % (opset, max_opset))
    for node in model.graph.node:
        if node.op_type in unsupported_ops:
            errors.append("No importer registered for op: %s" % node.op_type)
    inits = {t.name for t in model.graph.initializer}
    inputs, outputs = [], []
    for value, dest in [(v, inputs) for v in model.graph.input if v.name not in inits] + \
                       [(v, outputs) for v in model.graph.output]:
        t = value.type.tensor_type
        dtype = ONNX_TO_NP.get(t.elem_type, "unknown")
        if dest is inputs and dtype in unsupported_inputs:
            errors.append("input %s: unsupported data type %s" % (value.name, dtype))
        if dtype == "int64" and int64_as_int32:
            dtype = "int32"  # the 8.x parser casts INT64 down to INT32
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
        dest.append(Tensor(value.name, shape, dtype))
    if errors:
        return None, errors
    return {"onnx": data, "inputs": inputs, "outputs": outputs}, []


def serialize(tag: str, network: dict, profile: Dict[str, list], flags: List[str],
              workspace: int, calib_batches: int, extra: Optional[dict] = None) -> bytes:
    """The fake engine's bytes: a version tag line, then JSON (`extra`: build facts such as
    the tactic-source mask and the layers pinned to FP32)."""
    body = dict(extra or {})
    body.update({
        "inputs": [[t.name, list(t.shape), t.dtype_name] for t in network["inputs"]],
        "outputs": [[t.name, list(t.shape), t.dtype_name] for t in network["outputs"]],
        "profile": profile, "flags": sorted(flags), "workspace": workspace,
        "calib_batches": calib_batches,
        "onnx": base64.b64encode(network["onnx"]).decode("ascii"),
    })
    return ("%s\n" % tag).encode("ascii") + json.dumps(body).encode("utf-8")


def deserialize(tag: str, data: bytes) -> Optional[dict]:
    """The engine dict, or None for bytes made by another (fake) TensorRT version."""
    head, _, body = bytes(data).partition(b"\n")
    if head.decode("ascii", "replace") != tag:
        return None
    out = json.loads(body.decode("utf-8"))
    out["onnx"] = base64.b64decode(out["onnx"])
    return out


def _session(onnx_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])


def _model_feeds(engine: dict, arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    model = onnx.load_from_string(engine["onnx"])
    types = {v.name: ONNX_TO_NP[v.type.tensor_type.elem_type] for v in model.graph.input}
    return {k: v.astype(types[k]) for k, v in arrays.items()}


def output_shapes(engine: dict, input_shapes: Dict[str, Tuple[int, ...]]) -> Dict[str, Tuple[int, ...]]:
    """Output shapes for concrete input shapes (run once on zeros, like shape inference)."""
    key = json.dumps(sorted((k, list(v)) for k, v in input_shapes.items()))
    cache = engine.setdefault("_shape_cache", {})
    if key not in cache:
        zeros = {name: np.zeros(input_shapes[name], dtype) for name, _, dtype in engine["inputs"]}
        sess = _session(engine["onnx"])
        outs = sess.run(None, _model_feeds(engine, zeros))
        cache[key] = {o.name: tuple(a.shape) for o, a in zip(sess.get_outputs(), outs)}
    return cache[key]


def within_profile(engine: dict, name: str, shape: Tuple[int, ...]) -> bool:
    """Whether `shape` fits input `name`'s static dims and profile 0's min..max."""
    static = dict((n, s) for n, s, _ in engine["inputs"])[name]
    if len(shape) != len(static) or any(s >= 0 and s != d for s, d in zip(static, shape)):
        return False
    if name not in engine["profile"]:
        return True
    lo, _, hi = engine["profile"][name]
    return all(a <= d <= b for a, d, b in zip(lo, shape, hi))


def enqueue(engine: dict, stream_handle: int, pointers: Dict[str, int],
            shapes: Dict[str, Tuple[int, ...]]) -> None:
    """Queue the engine's work on the fake stream: read inputs, run, write outputs."""
    stream = fake_pycuda.STREAMS[stream_handle]
    in_types = {n: d for n, _, d in engine["inputs"]}
    out_types = {n: d for n, _, d in engine["outputs"]}
    out_shapes = output_shapes(engine, shapes)

    def kernel() -> None:
        arrays = {name: fake_pycuda.read_device(pointers[name], shapes[name], in_types[name])
                  for name in in_types}
        sess = _session(engine["onnx"])
        outs = sess.run(None, _model_feeds(engine, arrays))
        for o, value in zip(sess.get_outputs(), outs):
            if tuple(value.shape) != out_shapes[o.name]:
                raise AssertionError("fake engine output shape changed")
            fake_pycuda.write_device(pointers[o.name], value.astype(out_types[o.name]))

    stream.enqueue(kernel)


def run_calibration(calibrator, network: dict, shape: Tuple[int, ...]) -> int:
    """Drive an IInt8 calibrator the way the builder does; returns the batches consumed."""
    cache = calibrator.read_calibration_cache()
    if cache:
        return 0
    batch = calibrator.get_batch_size()
    if batch != shape[0]:
        raise AssertionError("calibrator batch %d does not match input batch %d" % (batch, shape[0]))
    names = [t.name for t in network["inputs"]]
    count = 0
    while True:
        pointers = calibrator.get_batch(names)
        if not pointers:
            break
        arr = fake_pycuda.read_device(int(pointers[0]), shape, np.float32)
        if not np.isfinite(arr).all():
            raise AssertionError("calibration batch is not finite")
        count += 1
    calibrator.write_calibration_cache(b"fake-int8-calibration-cache:%d" % count)
    return count


# --- API pieces both generations share (each fake module re-exports or subclasses them) ---
class IOptimizationProfile(object):
    def __init__(self) -> None:
        self.shapes = {}

    def set_shape(self, input: str, min, opt, max) -> None:
        fake_pycuda._log("trt.IOptimizationProfile.set_shape",
                         (input, tuple(min), tuple(opt), tuple(max)))
        self.shapes[input] = [list(min), list(opt), list(max)]

    def get_shape(self, input: str):
        return self.shapes[input]


class IHostMemory(object):
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.nbytes = len(data)

    def __bytes__(self) -> bytes:
        return self._data


class IInt8Calibrator(object):
    def __init__(self) -> None:
        pass


class IInt8EntropyCalibrator2(IInt8Calibrator):
    def get_batch_size(self) -> int:
        raise NotImplementedError

    def get_batch(self, names):
        raise NotImplementedError

    def read_calibration_cache(self):
        return None

    def write_calibration_cache(self, cache) -> None:
        pass


class NetworkIO(object):
    """INetworkDefinition's I/O accessors; a version sets `tensor_class` (its ITensor)."""

    tensor_class = None  # type: type
    data_type = None  # type: type
    _net = None  # type: Optional[dict]

    @property
    def num_inputs(self) -> int:
        return len(self._net["inputs"]) if self._net else 0

    @property
    def num_outputs(self) -> int:
        return len(self._net["outputs"]) if self._net else 0

    def get_input(self, index: int):
        return self.tensor_class(self._net["inputs"][index])

    def get_output(self, index: int):
        return self.tensor_class(self._net["outputs"][index])

    @property
    def num_layers(self) -> int:
        return len(network_layers(self, self.data_type))

    def get_layer(self, index: int) -> "ILayer":
        return network_layers(self, self.data_type)[index]


class ParserErrorBase(object):
    def __init__(self, text: str) -> None:
        self.text = text

    def desc(self) -> str:
        return self.text


class ParserBase(object):
    """OnnxParser's error list; a version sets `error_class` and writes `parse`."""

    error_class = ParserErrorBase

    def __init__(self, network, logger) -> None:
        self.network = network
        self._errors = []  # type: List[ParserErrorBase]

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int):
        return self._errors[index]

    def clear_errors(self) -> None:
        self._errors = []

    def _finish(self, net: Optional[dict], errors: List[str]) -> bool:
        self._errors = [self.error_class(e) for e in errors]
        self.network._net = net
        return net is not None


# --- layers, per-layer precision and tactic sources (both generations) --------------------
class EnumValue(object):
    """A TensorRT enum member: int() gives its value, equality is by enum and name."""

    def __init__(self, enum: str, name: str, value: int) -> None:
        self.enum, self.name, self.value = enum, name, value

    def __int__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and (other.enum, other.name) == (self.enum, self.name)

    def __hash__(self) -> int:
        return hash((self.enum, self.name))

    def __repr__(self) -> str:
        return "%s.%s" % (self.enum, self.name)


def make_enum(enum: str, names: List[str]) -> type:
    """A class whose attributes are EnumValue members numbered in order."""
    return type(enum, (object,), {n: EnumValue(enum, n, i) for i, n in enumerate(names)})


LayerType = make_enum("LayerType", ["CONVOLUTION", "ACTIVATION", "ELEMENTWISE", "UNARY", "REDUCE",
                                    "MATRIX_MULTIPLY", "SOFTMAX", "SHUFFLE", "CONSTANT", "IDENTITY",
                                    "GATHER", "CONCATENATION", "SLICE", "TOPK", "PLUGIN_V2"])
ElementWiseOperation = make_enum("ElementWiseOperation", ["SUM", "PROD", "MAX", "MIN", "SUB", "DIV",
                                                          "POW", "FLOOR_DIV", "AND", "OR", "XOR",
                                                          "EQUAL", "GREATER", "LESS"])
UnaryOperation = make_enum("UnaryOperation", ["EXP", "LOG", "SQRT", "RECIP", "ABS", "NEG", "SIN",
                                              "COS", "TANH", "ERF"])
ReduceOperation = make_enum("ReduceOperation", ["SUM", "PROD", "MAX", "MIN", "AVG"])

#: ONNX op -> (LayerType member, operation member name or None) the ONNX parser makes of it
_ONNX_LAYERS = {
    "Conv": ("CONVOLUTION", None), "Relu": ("ACTIVATION", None), "Sigmoid": ("ACTIVATION", None),
    "Add": ("ELEMENTWISE", "SUM"), "Sub": ("ELEMENTWISE", "SUB"), "Mul": ("ELEMENTWISE", "PROD"),
    "Div": ("ELEMENTWISE", "DIV"), "Pow": ("ELEMENTWISE", "POW"), "Max": ("ELEMENTWISE", "MAX"),
    "Sqrt": ("UNARY", "SQRT"), "Exp": ("UNARY", "EXP"), "Log": ("UNARY", "LOG"),
    "Reciprocal": ("UNARY", "RECIP"), "Erf": ("UNARY", "ERF"),
    "ReduceMean": ("REDUCE", "AVG"), "ReduceSum": ("REDUCE", "SUM"), "ReduceMax": ("REDUCE", "MAX"),
    "MatMul": ("MATRIX_MULTIPLY", None), "Gemm": ("MATRIX_MULTIPLY", None),
    "Softmax": ("SOFTMAX", None), "Cast": ("IDENTITY", None), "Gather": ("GATHER", None),
    "Concat": ("CONCATENATION", None), "Slice": ("SLICE", None), "TopK": ("TOPK", None),
}
_OPS = {"ELEMENTWISE": ElementWiseOperation, "UNARY": UnaryOperation, "REDUCE": ReduceOperation}


def onnx_layers(data: bytes) -> List[dict]:
    """The layers the ONNX parser makes of a model, in network order: a CONSTANT layer for
    each initializer before its first use, then one layer per node (named after it)."""
    model = onnx.load_from_string(data)
    inits = {t.name for t in model.graph.initializer}
    seen = set()  # type: set
    layers = []
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            if name in inits and name not in seen:
                seen.add(name)
                layers.append({"name": "(Unnamed Layer* %d) [Constant]" % len(layers),
                               "type": "CONSTANT", "op": None, "inputs": [], "outputs": [name]})
        kind, op = _ONNX_LAYERS.get(node.op_type, ("SHUFFLE", None))
        layers.append({"name": node.name or "%s_%d" % (node.op_type, index), "type": kind, "op": op,
                       "inputs": [n for n in node.input if n], "outputs": list(node.output)})
    return layers


class LayerTensor(object):
    """The ITensor a layer reads or writes (only its name matters to the builder code)."""

    def __init__(self, name: str) -> None:
        self.name = name


class ILayer(object):
    """INetworkDefinition.get_layer's result: type, I/O tensors, settable precision. As with
    the real bindings, reading `op` needs the subclass: `layer.__class__ = IReduceLayer`."""

    def __init__(self, data: dict, types: type) -> None:
        self._d = data
        self._types = types  # the generation's DataType
        self._precision = None
        self._output_types = {}  # type: Dict[int, object]

    name = property(lambda self: self._d["name"])
    type = property(lambda self: getattr(LayerType, self._d["type"]))
    num_inputs = property(lambda self: len(self._d["inputs"]))
    num_outputs = property(lambda self: len(self._d["outputs"]))

    def get_input(self, index: int) -> LayerTensor:
        return LayerTensor(self._d["inputs"][index])

    def get_output(self, index: int) -> LayerTensor:
        return LayerTensor(self._d["outputs"][index])

    @property
    def precision(self):
        return self._precision if self._precision is not None else self._types.FLOAT

    @precision.setter
    def precision(self, value) -> None:
        fake_pycuda._log("trt.ILayer.precision", (self.name, value.name))
        self._precision = value

    @property
    def precision_is_set(self) -> bool:
        return self._precision is not None

    def set_output_type(self, index: int, dtype) -> None:
        fake_pycuda._log("trt.ILayer.set_output_type", (self.name, index, dtype.name))
        self._output_types[index] = dtype

    def get_output_type(self, index: int):
        return self._output_types.get(index, self._types.FLOAT)

    def output_type_is_set(self, index: int) -> bool:
        return index in self._output_types


class _OpLayer(ILayer):
    @property
    def op(self):
        return getattr(_OPS[self._d["type"]], self._d["op"])


class IElementWiseLayer(_OpLayer):
    pass


class IUnaryLayer(_OpLayer):
    pass


class IReduceLayer(_OpLayer):
    pass


def network_layers(network, types: type) -> List[ILayer]:
    """The parsed network's layers (made once, so precisions set on them stick)."""
    net = network._net
    if net is None:
        return []
    if "layers" not in net:
        net["layers"] = [ILayer(d, types) for d in onnx_layers(net["onnx"])]
    return net["layers"]


def fp32_layers(network) -> List[str]:
    """Names of the layers whose precision the builder code pinned to FLOAT."""
    net = network._net or {}
    return [l.name for l in net.get("layers", []) if l.precision_is_set and l.precision.name == "FLOAT"]


class TacticConfig(object):
    """IBuilderConfig's tactic-source mask; a version sets `default_tactics` and puts
    `_tactics` (None = default) in its __slots__."""

    __slots__ = ()
    default_tactics = 0

    def get_tactic_sources(self) -> int:
        return self.default_tactics if self._tactics is None else self._tactics

    def set_tactic_sources(self, tactic_sources: int) -> bool:
        fake_pycuda._log("trt.IBuilderConfig.set_tactic_sources", int(tactic_sources))
        self._tactics = int(tactic_sources)
        return True
