"""TensorRT engines behind the Runtime contract: the 8.2 binding API and the 8.5+/10 tensor API.

One execution context and one CUDA stream per engine; buffers allocated once for the
optimisation profile's largest shapes; per call: set input shapes (dynamic batch),
async H2D, enqueue, async D2H, one stream synchronize.
"""
from collections import namedtuple
from types import ModuleType
from typing import Dict, List, Optional, Tuple

import numpy as np

from alpr.errors import EngineError
from engines.runtime import Runtime, TensorSpec
from engines.tensorrt.buffers import TensorBuffer, use_zero_copy
from engines.tensorrt.cuda_context import CudaContext, release
from engines.tensorrt.modules import api_generation

#: one engine I/O tensor: binding index (8.2) or position (10), shape with -1 for dynamic
#: dims, dtype, and the largest shape of profile 0 (what its buffer is sized for)
IOTensor = namedtuple("IOTensor", "name index is_input shape dtype max_shape")


def _dims(dims) -> Tuple[int, ...]:
    return tuple(int(d) for d in dims)


class TrtRuntime(Runtime):
    """Shared lifecycle of both API generations; subclasses implement the API calls."""

    backend = "tensorrt"

    def __init__(self, engine_bytes: bytes, trt: ModuleType, cuda_context: CudaContext,
                 zero_copy: str = "auto", owns_context: bool = False,
                 logger: Optional[object] = None) -> None:
        """Deserialize `engine_bytes` and allocate everything once; with owns_context the
        runtime takes over one reference of a shared_context() and releases it on close();
        if construction fails the reference stays with the caller."""
        super().__init__()
        self._trt = trt
        self._cuda_ctx = cuda_context.open()
        self._owns_context = owns_context
        self._cuda = cuda_context.cuda
        self._buffers = {}  # type: Dict[str, TensorBuffer]
        self._last_shapes = {}  # type: Dict[str, Tuple[int, ...]]
        try:
            self._logger = logger if logger is not None else trt.Logger(trt.Logger.WARNING)
            self._trt_runtime = trt.Runtime(self._logger)
            self._engine = self._trt_runtime.deserialize_cuda_engine(engine_bytes)
            if self._engine is None:
                raise EngineError("TensorRT %s could not deserialize the engine (built by another "
                                  "TensorRT version or for another GPU?)" % getattr(trt, "__version__", "?"))
            self._context = self._engine.create_execution_context()
            self._stream = self._cuda.Stream()
            self._io = self._describe()
            self._inputs = [TensorSpec(t.name, [d if d >= 0 else None for d in t.shape], t.dtype)
                            for t in self._io if t.is_input]
            out_max = self._output_max_shapes()
            self._io = [t._replace(max_shape=out_max[t.name]) if not t.is_input else t for t in self._io]
            self._outputs = [TensorSpec(t.name, [d if d >= 0 else None for d in t.shape], t.dtype)
                             for t in self._io if not t.is_input]
            for t in self._io:
                self._buffers[t.name] = TensorBuffer(
                    self._cuda, t.name, t.max_shape, t.dtype,
                    use_zero_copy(zero_copy, self._cuda_ctx.integrated, t.is_input))
            self._bind()
        except BaseException:
            for buf in self._buffers.values():  # the caller keeps (and releases) the context
                buf.free()
            self._owns_context = False
            raise

    # --- the Runtime contract -------------------------------------------------------
    @property
    def inputs(self) -> List[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> List[TensorSpec]:
        return self._outputs

    def _run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        self._cuda_ctx.check_process()
        for t in self._io:
            if t.is_input:
                shape = tuple(feeds[t.name].shape)
                if shape != self._last_shapes.get(t.name):
                    if not self._set_input_shape(t, shape):
                        raise EngineError("input %s shape %s is outside the engine's profile "
                                          "(max %s)" % (t.name, shape, t.max_shape))
                    self._last_shapes[t.name] = shape
                self._buffers[t.name].upload(feeds[t.name], self._stream)
        out_shapes = {t.name: self._output_shape(t) for t in self._io if not t.is_input}
        for name, shape in out_shapes.items():
            if any(d < 0 for d in shape):
                raise EngineError("output %s has unresolved shape %s" % (name, shape))
        if not self._execute():
            raise EngineError("TensorRT enqueue failed for %s" % self.backend)
        for name, shape in out_shapes.items():
            self._buffers[name].download(shape, self._stream)
        self._stream.synchronize()  # the one sync per call
        return {name: self._buffers[name].result(shape) for name, shape in out_shapes.items()}

    def _close(self) -> None:
        for buf in self._buffers.values():
            buf.free()
        self._buffers = {}
        self._context = None
        self._engine = None
        self._trt_runtime = None
        self._release_context()

    def _release_context(self) -> None:
        if self._owns_context:
            self._owns_context = False
            release(self._cuda_ctx)

    # --- shapes shared by both generations --------------------------------------------
    def _output_max_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Set every input to its profile max, read the output shapes, reset the cache."""
        for t in self._io:
            if t.is_input and not self._set_input_shape(t, t.max_shape):
                raise EngineError("engine rejects its own profile max %s for %s" % (t.max_shape, t.name))
            if t.is_input:
                self._last_shapes[t.name] = t.max_shape
        out = {}
        for t in self._io:
            if not t.is_input:
                shape = self._output_shape(t)
                if any(d < 0 for d in shape):
                    raise EngineError("output %s has a data-dependent shape %s; prepare the model "
                                      "with `alpr models prepare --target trt8.2` (cut before NMS)"
                                      % (t.name, shape))
                out[t.name] = shape
        return out

    # --- per-generation API -----------------------------------------------------------
    def _describe(self) -> List[IOTensor]:
        raise NotImplementedError

    def _set_input_shape(self, t: IOTensor, shape: Tuple[int, ...]) -> bool:
        raise NotImplementedError

    def _output_shape(self, t: IOTensor) -> Tuple[int, ...]:
        raise NotImplementedError

    def _bind(self) -> None:
        raise NotImplementedError

    def _execute(self) -> bool:
        raise NotImplementedError


class Trt8Runtime(TrtRuntime):
    """TensorRT 8.2 (JetPack 4.6): binding indices, set_binding_shape, execute_async_v2."""

    backend = "tensorrt8"

    def _describe(self) -> List[IOTensor]:
        e, trt = self._engine, self._trt
        per_profile = e.num_bindings // max(1, e.num_optimization_profiles)
        out = []
        for i in range(per_profile):  # profile 0's bindings come first
            shape = _dims(e.get_binding_shape(i))
            is_input = bool(e.binding_is_input(i))
            max_shape = shape
            if is_input and any(d < 0 for d in shape):
                max_shape = _dims(e.get_profile_shape(0, i)[2])
            out.append(IOTensor(e.get_binding_name(i), i, is_input, shape,
                                np.dtype(trt.nptype(e.get_binding_dtype(i))), max_shape))
        return out

    def _set_input_shape(self, t: IOTensor, shape: Tuple[int, ...]) -> bool:
        if all(d >= 0 for d in t.shape):
            return tuple(shape) == t.shape
        return bool(self._context.set_binding_shape(t.index, tuple(shape)))

    def _output_shape(self, t: IOTensor) -> Tuple[int, ...]:
        return _dims(self._context.get_binding_shape(t.index))

    def _bind(self) -> None:
        self._bindings = [0] * self._engine.num_bindings
        for t in self._io:
            self._bindings[t.index] = self._buffers[t.name].device_ptr

    def _execute(self) -> bool:
        return bool(self._context.execute_async_v2(bindings=self._bindings,
                                                   stream_handle=self._stream.handle))


class Trt10Runtime(TrtRuntime):
    """TensorRT 8.5+ / 10: named I/O tensors, set_input_shape, set_tensor_address, execute_async_v3."""

    backend = "tensorrt10"

    def _describe(self) -> List[IOTensor]:
        e, trt = self._engine, self._trt
        out = []
        for i in range(e.num_io_tensors):
            name = e.get_tensor_name(i)
            shape = _dims(e.get_tensor_shape(name))
            is_input = e.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            max_shape = shape
            if is_input and any(d < 0 for d in shape):
                max_shape = _dims(e.get_tensor_profile_shape(name, 0)[2])
            out.append(IOTensor(name, i, is_input, shape,
                                np.dtype(trt.nptype(e.get_tensor_dtype(name))), max_shape))
        return out

    def _set_input_shape(self, t: IOTensor, shape: Tuple[int, ...]) -> bool:
        if all(d >= 0 for d in t.shape):
            return tuple(shape) == t.shape
        return bool(self._context.set_input_shape(t.name, tuple(shape)))

    def _output_shape(self, t: IOTensor) -> Tuple[int, ...]:
        return _dims(self._context.get_tensor_shape(t.name))

    def _bind(self) -> None:
        for t in self._io:
            if not self._context.set_tensor_address(t.name, self._buffers[t.name].device_ptr):
                raise EngineError("set_tensor_address failed for %s" % t.name)

    def _execute(self) -> bool:
        return bool(self._context.execute_async_v3(stream_handle=self._stream.handle))


def runtime_class(trt: ModuleType) -> type:
    """Trt10Runtime when the module has the tensor API, else Trt8Runtime."""
    return Trt10Runtime if api_generation(trt) >= 10 else Trt8Runtime
