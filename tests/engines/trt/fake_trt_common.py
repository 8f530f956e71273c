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
        from fake_trt_layers import network_layers

        return len(network_layers(self, self.data_type))

    def get_layer(self, index: int):
        from fake_trt_layers import network_layers

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
