"""A fake `tensorrt` 10.x module, exposing only the 10.x Python API.

Modelled on the documented 10.x API: networks are always explicit batch (create_network(0)),
IBuilderConfig.set_memory_pool_limit(MemoryPoolType.WORKSPACE, n) (max_workspace_size is
gone and assigning it raises AttributeError), build_serialized_network only (no
build_engine), the name-based tensor API (num_io_tensors, get_tensor_name/mode/shape/
dtype, get_tensor_profile_shape) and IExecutionContext.set_input_shape /
set_tensor_address / execute_async_v3. The 8.2 binding names (num_bindings,
get_binding_shape, set_binding_shape, execute_async_v2, ...) do not exist here. The
parser takes opset <= 20, UINT8 and INT64 I/O, and NonMaxSuppression (whose output
shape is data-dependent, -1, as in real TensorRT).
"""
from typing import Optional

import numpy as np

import fake_pycuda
import fake_trt_common as core
import fake_trt_layers as layers

__version__ = "10.3.0"
TAG = "FAKE-TENSORRT-" + __version__
PLATFORM = {"fast_fp16": True, "fast_int8": True}
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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Value) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

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
    UINT8 = _Value("UINT8", 5)
    FP8 = _Value("FP8", 6)
    BF16 = _Value("BF16", 7)
    INT64 = _Value("INT64", 8)
    INT4 = _Value("INT4", 9)


_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32,
       "BOOL": np.bool_, "UINT8": np.uint8, "INT64": np.int64}
_BY_NP = {"float32": DataType.FLOAT, "float16": DataType.HALF, "int8": DataType.INT8,
          "int32": DataType.INT32, "bool": DataType.BOOL, "uint8": DataType.UINT8,
          "int64": DataType.INT64}


def nptype(trt_type: _Value) -> type:
    if trt_type.name not in _NP:
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
    return _NP[trt_type.name]


class NetworkDefinitionCreationFlag(object):
    EXPLICIT_BATCH = _Value("EXPLICIT_BATCH", 0)  # deprecated and ignored in 10.x
    STRONGLY_TYPED = _Value("STRONGLY_TYPED", 1)


class BuilderFlag(object):
    FP16 = _Value("FP16", 0)
    INT8 = _Value("INT8", 1)
    DEBUG = _Value("DEBUG", 2)
    GPU_FALLBACK = _Value("GPU_FALLBACK", 3)
    REFIT = _Value("REFIT", 5)
    OBEY_PRECISION_CONSTRAINTS = _Value("OBEY_PRECISION_CONSTRAINTS", 9)
    PREFER_PRECISION_CONSTRAINTS = _Value("PREFER_PRECISION_CONSTRAINTS", 10)
    BF16 = _Value("BF16", 17)


class TacticSource(object):
    CUBLAS = _Value("CUBLAS", 0)  # deprecated in 10.0, off by default
    CUBLAS_LT = _Value("CUBLAS_LT", 1)  # deprecated in 9.0, off by default
    CUDNN = _Value("CUDNN", 2)  # deprecated in 10.0, off by default
    EDGE_MASK_CONVOLUTIONS = _Value("EDGE_MASK_CONVOLUTIONS", 3)
    JIT_CONVOLUTIONS = _Value("JIT_CONVOLUTIONS", 4)


class MemoryPoolType(object):
    WORKSPACE = _Value("WORKSPACE", 0)
    DLA_MANAGED_SRAM = _Value("DLA_MANAGED_SRAM", 1)
    TACTIC_SHARED_MEMORY = _Value("TACTIC_SHARED_MEMORY", 4)


class TensorIOMode(object):
    NONE = _Value("NONE", 0)
    INPUT = _Value("INPUT", 1)
    OUTPUT = _Value("OUTPUT", 2)


class ITensor(object):
    def __init__(self, t: core.Tensor) -> None:
        self.name, self.shape, self.dtype = t.name, t.shape, _BY_NP[t.dtype_name]


class INetworkDefinition(core.NetworkIO):
    tensor_class = ITensor
    data_type = DataType

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self._net = None  # type: Optional[dict]


class ParserError(core.ParserErrorBase):
    def __str__(self) -> str:
        return "In node -1 with name:  and operator:  (parseGraph): %s" % self.text


class OnnxParser(core.ParserBase):
    error_class = ParserError

    def parse(self, model: bytes, path: Optional[str] = None) -> bool:
        _log("trt.OnnxParser.parse", len(model))
        net, errors = core.parse_onnx(bytes(model), 20, False, (), ())
        if net is not None:
            import onnx

            ops = {n.op_type for n in onnx.load_from_string(bytes(model)).graph.node}
            net["data_dependent"] = "NonMaxSuppression" in ops
        return self._finish(net, errors)


class IBuilderConfig(layers.TacticConfig):
    __slots__ = ("flags", "profiles", "int8_calibrator", "_pools", "_calibration_profile", "_tactics",
                 "progress_monitor")

    def __init__(self) -> None:
        self.flags = set()
        self.profiles = []  # type: List[IOptimizationProfile]
        self.int8_calibrator = None  # deprecated in 10.x, still present
        self._pools = {}  # type: Dict[str, int]
        self._calibration_profile = None
        self._tactics = None
        self.progress_monitor = None

    def set_memory_pool_limit(self, pool: _Value, pool_size: int) -> None:
        _log("trt.IBuilderConfig.set_memory_pool_limit", (pool.name, pool_size))
        self._pools[pool.name] = int(pool_size)

    def get_memory_pool_limit(self, pool: _Value) -> int:
        return self._pools.get(pool.name, 1 << 62)

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

    default_tactics = (1 << 3) | (1 << 4)  # the generation's default tactic sources


class IProgressMonitor(object):
    """Application-implemented build progress callbacks (8.6+ / 10.x)."""

    def __init__(self) -> None:
        pass

    def phase_start(self, phase_name: str, parent_phase, num_steps: int) -> None:
        pass

    def step_complete(self, phase_name: str, step: int) -> bool:
        return True

    def phase_finish(self, phase_name: str) -> None:
        pass


class Builder(object):
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

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
        _log("trt.Builder.build_serialized_network", config.get_memory_pool_limit(MemoryPoolType.WORKSPACE))
        net = network._net
        if net is None:
            return None
        monitor = config.progress_monitor
        if monitor is not None:  # a tiny build: one phase with four tactic steps
            monitor.phase_start("Building engine", None, 4)
            for step in range(4):
                if not monitor.step_complete("Building engine", step):
                    return None  # cancelled
            monitor.phase_finish("Building engine")
        profile = {}
        for t in net["inputs"]:
            if any(d < 0 for d in t.shape):
                found = [p.shapes[t.name] for p in config.profiles if t.name in p.shapes]
                if not found:
                    return None
                profile[t.name] = found[0]
        batches = 0
        if "INT8" in config.flags:
            if config.int8_calibrator is None:
                return None
            shape = tuple(net["inputs"][0].shape)
            if net["inputs"][0].name in profile:
                shape = tuple(profile[net["inputs"][0].name][1])
            batches = core.run_calibration(config.int8_calibrator, net, shape)
        flags = list(config.flags) + (["DATA_DEPENDENT"] if net.get("data_dependent") else [])
        return IHostMemory(core.serialize(TAG, net, profile, flags,
                                          config.get_memory_pool_limit(MemoryPoolType.WORKSPACE), batches,
                                          {"tactic_sources": config.get_tactic_sources(),
                                           "fp32_layers": layers.fp32_layers(network)}))


class ICudaEngine(object):
    def __init__(self, data: dict) -> None:
        self._e = data
        self._io = [(n, True, tuple(s), d) for n, s, d in data["inputs"]] + \
                   [(n, False, tuple(s), d) for n, s, d in data["outputs"]]
        self._by_name = {io[0]: io for io in self._io}

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    @property
    def num_optimization_profiles(self) -> int:
        return 1

    def get_tensor_name(self, index: int) -> str:
        return self._io[index][0]

    def get_tensor_mode(self, name: str) -> _Value:
        io = self._by_name.get(name)
        return TensorIOMode.NONE if io is None else (TensorIOMode.INPUT if io[1] else TensorIOMode.OUTPUT)

    def get_tensor_shape(self, name: str) -> tuple:
        return self._by_name[name][2]

    def get_tensor_dtype(self, name: str) -> _Value:
        return _BY_NP[self._by_name[name][3]]

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list:
        if profile_index != 0 or name not in self._e["profile"]:
            raise RuntimeError("no profile shape for %s" % name)
        return [tuple(s) for s in self._e["profile"][name]]

    def create_execution_context(self) -> "IExecutionContext":
        _log("trt.ICudaEngine.create_execution_context")
        return IExecutionContext(self)


class IExecutionContext(object):
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self._shapes = {n: s for n, is_in, s, _ in engine._io if is_in}
        self._addresses = {}  # type: Dict[str, int]

    def set_input_shape(self, name: str, shape) -> bool:
        shape = tuple(int(d) for d in shape)
        _log("trt.IExecutionContext.set_input_shape", (name, shape))
        if self.engine.get_tensor_mode(name) != TensorIOMode.INPUT or \
                not core.within_profile(self.engine._e, name, shape):
            return False
        self._shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple:
        io = self.engine._by_name[name]
        if io[1]:
            return self._shapes[name]
        if "DATA_DEPENDENT" in self.engine._e["flags"]:
            return io[2]  # known only after execution, as with real NMS outputs
        if any(d < 0 for s in self._shapes.values() for d in s):
            return io[2]
        return core.output_shapes(self.engine._e, self._shapes)[name]

    def set_tensor_address(self, name: str, memory: int) -> bool:
        _log("trt.IExecutionContext.set_tensor_address", name)
        if name not in self.engine._by_name:
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def execute_async_v3(self, stream_handle: int) -> bool:
        _log("trt.IExecutionContext.execute_async_v3")
        if set(self._addresses) != set(self.engine._by_name):
            return False  # "Neither address or allocator is set for output tensor ..."
        if any(p not in fake_pycuda.MEMORY for p in self._addresses.values()):
            return False
        core.enqueue(self.engine._e, stream_handle, dict(self._addresses), self._shapes)
        return True


class Runtime(object):
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine) -> Optional[ICudaEngine]:
        _log("trt.Runtime.deserialize_cuda_engine")
        data = core.deserialize(TAG, bytes(serialized_engine))
        return ICudaEngine(data) if data is not None else None
