"""Layers, per-layer precision and tactic sources of the fake TensorRT modules (both
generations): INetworkDefinition.get_layer's ILayer (and its IElementWise/IUnary/IReduce
subclasses, reached the bindings' way, by assigning __class__), LayerType and operation
enums, ONNX nodes mapped to the layers the ONNX parser makes, and IBuilderConfig's
tactic-source mask. Not an API: fake_tensorrt8/10 re-export what their version has.
"""
from typing import Dict, List

import onnx

import fake_pycuda


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
