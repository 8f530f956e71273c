"""A fake `tensorrt` 8.2 module (JetPack 4.6's TensorRT), exposing only the 8.2 Python API.

Modelled on the documented 8.2 API: explicit-batch network flag, OnnxParser (opset <= 13,
no UINT8 inputs, no NonMaxSuppression, INT64 cast down to INT32),
IBuilderConfig.max_workspace_size (no set_memory_pool_limit: that came in 8.4),
build_engine (deprecated) and build_serialized_network, the binding-index engine API
(num_bindings, get_binding_name/shape/dtype, binding_is_input, get_profile_shape) and
IExecutionContext.set_binding_shape / execute_async_v2. The 10.x names (num_io_tensors,
set_tensor_address, execute_async_v3, set_input_shape, ...) do not exist here, so calling
them raises AttributeError as the real module would. Execution goes through
fake_trt_common (onnxruntime on fake_pycuda memory).
"""
from typing import List, Optional

import numpy as np

import fake_pycuda
import fake_trt_common as core
import fake_trt_layers as layers

__version__ = "8.2.1.8"
TAG = "FAKE-TENSORRT-" + __version__
#: what the fake GPU reports (a Nano: fast FP16, no fast INT8)
PLATFORM = {"fast_fp16": True, "fast_int8": False, "needs_cudnn": False}
_log = fake_pycuda._log

# identical in both generations: shared with the other fake
IOptimizationProfile = core.IOptimizationProfile
IHostMemory = core.IHostMemory
IInt8Calibrator = core.IInt8Calibrator
IInt8EntropyCalibrator2 = core.IInt8EntropyCalibrator2
LayerType = layers.LayerType
ElementWiseOperation = layers.ElementWiseOperation
UnaryOperation = layers.UnaryOperation
ReduceOperation = layers.ReduceOperation
ILayer = layers.ILayer
IElementWiseLayer = layers.IElementWiseLayer
IUnaryLayer = layers.IUnaryLayer
IReduceLayer = layers.IReduceLayer


class _Value(object):
    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return self.name


class Logger(object):
    class Severity(object):
        INTERNAL_ERROR = _Value("INTERNAL_ERROR", 0)
        ERROR = _Value("ERROR", 1)
        WARNING = _Value("WARNING", 2)
        INFO = _Value("INFO", 3)
        VERBOSE = _Value("VERBOSE", 4)

    INTERNAL_ERROR, ERROR, WARNING = Severity.INTERNAL_ERROR, Severity.ERROR, Severity.WARNING
    INFO, VERBOSE = Severity.INFO, Severity.VERBOSE

    def __init__(self, min_severity=Severity.WARNING) -> None:
        self.min_severity = min_severity


class DataType(object):
    FLOAT = _Value("FLOAT", 0)
    HALF = _Value("HALF", 1)
    INT8 = _Value("INT8", 2)
    INT32 = _Value("INT32", 3)
    BOOL = _Value("BOOL", 4)


_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_}
_BY_NP = {"float32": DataType.FLOAT, "float16": DataType.HALF, "int8": DataType.INT8,
          "int32": DataType.INT32, "bool": DataType.BOOL}


def nptype(trt_type: _Value) -> type:
    return _NP[trt_type.name]


class NetworkDefinitionCreationFlag(object):
    EXPLICIT_BATCH = _Value("EXPLICIT_BATCH", 0)
    EXPLICIT_PRECISION = _Value("EXPLICIT_PRECISION", 1)


class BuilderFlag(object):
    FP16 = _Value("FP16", 0)
    INT8 = _Value("INT8", 1)
    DEBUG = _Value("DEBUG", 2)
    GPU_FALLBACK = _Value("GPU_FALLBACK", 3)
    STRICT_TYPES = _Value("STRICT_TYPES", 4)
    REFIT = _Value("REFIT", 5)
    OBEY_PRECISION_CONSTRAINTS = _Value("OBEY_PRECISION_CONSTRAINTS", 10)  # new in 8.2
    PREFER_PRECISION_CONSTRAINTS = _Value("PREFER_PRECISION_CONSTRAINTS", 11)  # new in 8.2


class TacticSource(object):
    CUBLAS = _Value("CUBLAS", 0)
    CUBLAS_LT = _Value("CUBLAS_LT", 1)
    CUDNN = _Value("CUDNN", 2)


class ITensor(object):
    def __init__(self, t: core.Tensor) -> None:
        self.name, self.shape, self.dtype = t.name, t.shape, _BY_NP[t.dtype_name]


class INetworkDefinition(core.NetworkIO):
    tensor_class = ITensor
    data_type = DataType

    def __init__(self, flags: int) -> None:
        self.explicit_batch = bool(flags & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)))
        self._net = None  # type: Optional[dict]

    @property
    def has_implicit_batch_dimension(self) -> bool:
        return not self.explicit_batch


class ParserError(core.ParserErrorBase):
    def __str__(self) -> str:
        return "In node -1 (importModel): %s" % self.text


class OnnxParser(core.ParserBase):
    error_class = ParserError

    def parse(self, model: bytes, path: Optional[str] = None) -> bool:
        _log("trt.OnnxParser.parse", len(model))
        if not self.network.explicit_batch:
            self._errors = [ParserError("Network must have explicit batch dimension "
                                        "(EXPLICIT_BATCH flag)")]
            return False
        net, errors = core.parse_onnx(bytes(model), 13, True, ("uint8", "int8"), ("NonMaxSuppression",))
        return self._finish(net, errors)


class IBuilderConfig(layers.TacticConfig):
    __slots__ = ("max_workspace_size", "flags", "profiles", "int8_calibrator", "_calibration_profile", "_tactics")

    def __init__(self) -> None:
        self.max_workspace_size = 0
        self.flags = set()
        self.profiles = []  # type: List[IOptimizationProfile]
        self.int8_calibrator = None
        self._calibration_profile = None
        self._tactics = None

    def set_flag(self, flag: _Value) -> None:
        _log("trt.IBuilderConfig.set_flag", flag.name)
        self.flags.add(flag.name)

    def clear_flag(self, flag: _Value) -> None:
        self.flags.discard(flag.name)

    def get_flag(self, flag: _Value) -> bool:
        return flag.name in self.flags

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.profiles)

    def set_calibration_profile(self, profile: IOptimizationProfile) -> bool:
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self) -> Optional[IOptimizationProfile]:
        return self._calibration_profile

    default_tactics = (1 << 0) | (1 << 1) | (1 << 2)  # the generation's default tactic sources


class Builder(object):
    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.max_batch_size = 1

    @property
    def platform_has_fast_fp16(self) -> bool:
        return PLATFORM["fast_fp16"]

    @property
    def platform_has_fast_int8(self) -> bool:
        return PLATFORM["fast_int8"]

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        _log("trt.Builder.create_network", flags)
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig):
        _log("trt.Builder.build_serialized_network", config.max_workspace_size)
        data = self._build(network, config)
        return IHostMemory(data) if data is not None else None

    def build_engine(self, network: INetworkDefinition, config: IBuilderConfig):
        """Deprecated in 8.x, kept for the fallback path."""
        _log("trt.Builder.build_engine", config.max_workspace_size)
        data = self._build(network, config)
        return Runtime(self.logger).deserialize_cuda_engine(data) if data is not None else None

    def _build(self, network: INetworkDefinition, config: IBuilderConfig) -> Optional[bytes]:
        net = network._net
        if net is None or config.max_workspace_size <= 0:
            return None  # real TRT logs an error and returns None
        if PLATFORM["needs_cudnn"] and not config.get_tactic_sources() & (1 << int(TacticSource.CUDNN)):
            return None  # a layer only cuDNN implements: "no implementation obeys reformatting-free rules"
        profile = {}
        for t in net["inputs"]:
            if any(d < 0 for d in t.shape):
                found = [p.shapes[t.name] for p in config.profiles if t.name in p.shapes]
                if not found:
                    return None  # "Network has dynamic or shape inputs, but no optimization profile"
                profile[t.name] = found[0]
        batches = 0
        if "INT8" in config.flags:
            if config.int8_calibrator is None:
                return None
            shape = tuple(net["inputs"][0].shape)
            if net["inputs"][0].name in profile:
                shape = tuple(profile[net["inputs"][0].name][1])
            batches = core.run_calibration(config.int8_calibrator, net, shape)
        return core.serialize(TAG, net, profile, list(config.flags), config.max_workspace_size, batches,
                              {"tactic_sources": config.get_tactic_sources(),
                               "fp32_layers": layers.fp32_layers(network)})


class ICudaEngine(object):
    def __init__(self, data: dict) -> None:
        self._e = data
        self._io = [(n, True, tuple(s), d) for n, s, d in data["inputs"]] + \
                   [(n, False, tuple(s), d) for n, s, d in data["outputs"]]

    @property
    def num_bindings(self) -> int:
        return len(self._io)

    @property
    def num_optimization_profiles(self) -> int:
        return 1

    @property
    def has_implicit_batch_dimension(self) -> bool:
        return False

    def get_binding_name(self, index: int) -> str:
        return self._io[index][0]

    def get_binding_index(self, name: str) -> int:
        return [n for n, _, _, _ in self._io].index(name)

    def binding_is_input(self, index) -> bool:
        if isinstance(index, str):
            index = self.get_binding_index(index)
        return self._io[index][1]

    def get_binding_shape(self, index) -> tuple:
        if isinstance(index, str):
            index = self.get_binding_index(index)
        return self._io[index][2]

    def get_binding_dtype(self, index) -> _Value:
        if isinstance(index, str):
            index = self.get_binding_index(index)
        return _BY_NP[self._io[index][3]]

    def get_profile_shape(self, profile_index: int, binding) -> list:
        name = binding if isinstance(binding, str) else self._io[binding][0]
        if profile_index != 0 or name not in self._e["profile"]:
            raise RuntimeError("no profile shape for %s" % name)
        return [tuple(s) for s in self._e["profile"][name]]

    def create_execution_context(self) -> "IExecutionContext":
        _log("trt.ICudaEngine.create_execution_context")
        return IExecutionContext(self)

    def serialize(self) -> IHostMemory:
        net = {"onnx": self._e["onnx"],
               "inputs": [core.Tensor(n, tuple(s), d) for n, s, d in self._e["inputs"]],
               "outputs": [core.Tensor(n, tuple(s), d) for n, s, d in self._e["outputs"]]}
        return IHostMemory(core.serialize(TAG, net, self._e["profile"], self._e["flags"],
                                          self._e["workspace"], self._e["calib_batches"]))


class IExecutionContext(object):
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self.active_optimization_profile = 0
        self._shapes = {n: s for n, is_in, s, _ in engine._io if is_in}

    def set_binding_shape(self, binding: int, shape) -> bool:
        name = self.engine.get_binding_name(binding)
        shape = tuple(int(d) for d in shape)
        _log("trt.IExecutionContext.set_binding_shape", (binding, shape))
        if not self.engine.binding_is_input(binding) or not core.within_profile(self.engine._e, name, shape):
            return False
        self._shapes[name] = shape
        return True

    @property
    def all_binding_shapes_specified(self) -> bool:
        return all(d >= 0 for s in self._shapes.values() for d in s)

    def get_binding_shape(self, binding: int) -> tuple:
        name, is_input, static, _ = self.engine._io[binding]
        if is_input:
            return self._shapes[name]
        if not self.all_binding_shapes_specified:
            return static
        return core.output_shapes(self.engine._e, self._shapes)[name]

    def execute_async_v2(self, bindings: List[int], stream_handle: int, input_consumed=None) -> bool:
        _log("trt.IExecutionContext.execute_async_v2", len(bindings))
        if len(bindings) != self.engine.num_bindings or not self.all_binding_shapes_specified:
            return False
        pointers = {n: int(p) for (n, _, _, _), p in zip(self.engine._io, bindings)}
        if any(p not in fake_pycuda.MEMORY for p in pointers.values()):
            return False
        core.enqueue(self.engine._e, stream_handle, pointers, self._shapes)
        return True


class Runtime(object):
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine) -> Optional[ICudaEngine]:
        _log("trt.Runtime.deserialize_cuda_engine")
        data = core.deserialize(TAG, bytes(serialized_engine))
        return ICudaEngine(data) if data is not None else None
