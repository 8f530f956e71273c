"""Build-config choices that keep an FP16 engine accurate and a Nano's memory small.

`pin_layernorm_fp32`: LayerNorm exported as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div
(opset < 17, or decomposed by `alpr models prepare`) squares activations in FP16, where
values above 255 overflow (65504). ONNX Runtime's TensorRT EP finds each Pow whose
output feeds a Reduce and forces both to FP32 (`trt_layer_norm_fp32_fallback`); we do
the same and carry FP32 on through the +eps, Sqrt and the normalising Div.

`drop_library_tactics`: cuBLAS, cuBLAS LT and cuDNN tactics off, so the runtime need not
load those libraries (hundreds of MB of a Nano's shared DRAM). TensorRT's own kernels
cover our convolutions and matrix multiplies; a build that fails without them is retried
with the default sources (see build.build_engine).
"""
from types import ModuleType
from typing import Dict, List, Optional

LIBRARY_TACTICS = ("CUBLAS", "CUBLAS_LT", "CUDNN")
_CHAIN_AFTER_REDUCE = 3  # + eps, Sqrt, Div: the variance's way to the normalisation


def _cast(layer: object, trt: ModuleType) -> object:
    """The layer as its subclass (the Python bindings' idiom), so `op` can be read."""
    kinds = {"ELEMENTWISE": "IElementWiseLayer", "UNARY": "IUnaryLayer", "REDUCE": "IReduceLayer"}
    for kind, cls in kinds.items():
        if layer.type == getattr(trt.LayerType, kind) and hasattr(trt, cls):
            layer.__class__ = getattr(trt, cls)
    return layer


def _is(layer: object, trt: ModuleType, kind: str, op: Optional[str] = None) -> bool:
    if layer.type != getattr(trt.LayerType, kind):
        return False
    if op is None:
        return True
    enum = {"ELEMENTWISE": "ElementWiseOperation", "UNARY": "UnaryOperation"}[kind]
    return getattr(layer, "op", None) == getattr(getattr(trt, enum), op)


def layernorm_layers(network: object, trt: ModuleType) -> List[object]:
    """Each Pow feeding a Reduce, that Reduce, and the single-consumer Add/Sqrt/Div chain
    after it (the FP16-overflow part of a decomposed LayerNorm)."""
    layers = [_cast(network.get_layer(i), trt) for i in range(network.num_layers)]
    consumers = {}  # type: Dict[str, List[object]]
    for layer in layers:
        for j in range(layer.num_inputs):
            tensor = layer.get_input(j)
            if tensor is not None:
                consumers.setdefault(tensor.name, []).append(layer)
    picked = []  # type: List[object]
    for layer in layers:
        if not _is(layer, trt, "ELEMENTWISE", "POW"):
            continue
        reduces = [c for c in consumers.get(layer.get_output(0).name, []) if _is(c, trt, "REDUCE")]
        if not reduces:
            continue
        chain = [layer] + reduces
        current = reduces[0]
        for _ in range(_CHAIN_AFTER_REDUCE):
            nxt = consumers.get(current.get_output(0).name, [])
            if len(nxt) != 1 or not (_is(nxt[0], trt, "ELEMENTWISE") or _is(nxt[0], trt, "UNARY")):
                break
            current = nxt[0]
            chain.append(current)
            if _is(current, trt, "ELEMENTWISE", "DIV"):
                break
        picked.extend(l for l in chain if l not in picked)
    return picked


def pin_layernorm_fp32(network: object, config: object, trt: ModuleType) -> List[str]:
    """Set the LayerNorm layers' precision and outputs to FP32 and make the builder honour
    it; returns their names (empty: nothing to pin)."""
    layers = layernorm_layers(network, trt)
    if not layers:
        return []
    fp32 = trt.DataType.FLOAT
    for layer in layers:
        layer.precision = fp32
        for k in range(layer.num_outputs):
            layer.set_output_type(k, fp32)
    # PREFER (8.2+): honour the pins, fall back with a warning where no FP32 kernel exists;
    # STRICT_TYPES is the pre-8.2 spelling
    flag = getattr(trt.BuilderFlag, "PREFER_PRECISION_CONSTRAINTS", None) or \
        getattr(trt.BuilderFlag, "STRICT_TYPES", None)
    if flag is not None:
        config.set_flag(flag)
    return [str(layer.name) for layer in layers]


def drop_library_tactics(config: object, trt: ModuleType) -> Optional[int]:
    """Turn the cuBLAS/cuDNN tactic sources off; returns the previous mask to restore on a
    failed build, or None where this TensorRT has no tactic-source control."""
    sources = getattr(trt, "TacticSource", None)
    if sources is None or not hasattr(config, "set_tactic_sources"):
        return None
    before = int(config.get_tactic_sources())
    mask = before
    for name in LIBRARY_TACTICS:
        member = getattr(sources, name, None)
        if member is not None:
            mask &= ~(1 << int(member))
    if mask != before:
        config.set_tactic_sources(mask)
    return before
