"""GPU pre-processing: letterbox and OCR crops as CUDA kernels, with a CPU fallback.

A kernel library the pipeline does not use yet. No pipeline, adapter or worker calls it:
the detectors letterbox on the CPU (engines.letterbox, in yolo_raw / yolo_end2end) and each
recogniser crops and resizes its own way (encdec_ocr: Pillow-exact bicubic through
engines.resample, where the encoder crop here is bilinear, so wiring it in would change what
platerec is fed, not only where). Only tests/engines/test_preprocess_cuda.py and `alpr bench
preprocess` run it. What has run: the kernels through pycuda and CuPy on an H100, within
1/255 of the CPU path (docs/gpu-preprocess.md). What has not: any of it on a Jetson, and
any of it inside the pipeline.

`CudaPreprocessor` launches engines.preprocess_kernels through pycuda (SourceModule), meant
to keep a Nano's weak CPU from spending its frame budget on resizing; the same class with
`backend="cupy"` launches the same source through CuPy's RawKernel (used to check the
kernels where pycuda is not built). `make_preprocessor` falls back to `CpuPreprocessor`
when no CUDA backend imports. Each GPU preprocessor owns its context use, stream and
buffers and is a context manager; open it after any fork (the worker does).
"""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from alpr import defaults
from alpr.errors import ConfigError, EngineError
from engines.preprocess_cpu import (ENCODER_MEAN, ENCODER_STD, Letterbox, check_frame,
                                    clamp_boxes, crops_normalized_cpu, crops_u8_cpu,
                                    letterbox_geometry)
from engines.preprocess_kernels import BLOCK, KERNEL_NAMES, KERNEL_SOURCE, grid_for

log = logging.getLogger(__name__)

_i32, _f32, _ptr = np.int32, np.float32, np.uint64  # kernel argument types


class CpuPreprocessor(object):
    """The OpenCV path behind the same interface as CudaPreprocessor (the fallback)."""

    backend = "cpu"

    def __init__(self, fill: int = defaults.LETTERBOX_FILL, swap_rb: bool = True) -> None:
        self.fill, self.swap_rb = fill, swap_rb
        self._letterboxers = {}  # type: Dict[Tuple[int, int], Any]

    def letterbox(self, frame: np.ndarray, in_h: int, in_w: int) -> Tuple[np.ndarray, Letterbox]:
        """Detector input [1, 3, in_h, in_w] float32 and its geometry (engines.letterbox)."""
        key = (in_h, in_w)
        if key not in self._letterboxers:
            from engines.letterbox import Letterboxer

            self._letterboxers[key] = Letterboxer(in_h, in_w, np.float32, self.fill, self.swap_rb)
        return self._letterboxers[key](frame)

    def crops_u8(self, frame: np.ndarray, boxes: Sequence[Sequence[float]], out_h: int,
                 out_w: int, grey: bool = False) -> np.ndarray:
        """Slot-OCR input uint8 [n, out_h, out_w, 1|3]."""
        return crops_u8_cpu(frame, boxes, out_h, out_w, grey, self.swap_rb)

    def crops_normalized(self, frame: np.ndarray, boxes: Sequence[Sequence[float]],
                         out_h: int = 224, out_w: int = 224,
                         mean: Sequence[float] = ENCODER_MEAN,
                         std: Sequence[float] = ENCODER_STD) -> np.ndarray:
        """Encoder-OCR input float32 [n, 3, out_h, out_w]."""
        return crops_normalized_cpu(frame, boxes, out_h, out_w, mean, std, self.swap_rb)

    def open(self) -> "CpuPreprocessor":
        return self

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> "CpuPreprocessor":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _PycudaBackend(object):
    """Allocation, copies and launches through pycuda on the device's primary context."""

    name = "pycuda"

    def __init__(self, device_id: int, stream: Any = None) -> None:
        import pycuda.driver as cuda
        from pycuda.compiler import SourceModule

        self.cuda = cuda
        cuda.init()
        self.context = None  # type: Any  # set only when we retained (and must release) one
        if cuda.Context.get_current() is None:
            self.context = cuda.Device(device_id).retain_primary_context()
            self.context.push()
        # else: borrow the context current on this thread (e.g. the TensorRT runtime's), so
        # letterbox_to_device can write into that runtime's input bindings
        self.stream = stream or cuda.Stream()
        module = SourceModule(KERNEL_SOURCE, no_extern_c=True)
        self.kernels = {name: module.get_function(name) for name in KERNEL_NAMES}

    def alloc(self, nbytes: int) -> Tuple[Any, int]:
        mem = self.cuda.mem_alloc(max(1, nbytes))
        return mem, int(mem)

    def pinned(self, shape: Tuple[int, ...], dtype: Any, mapped: bool) -> Tuple[np.ndarray, int]:
        """Page-locked host array, and its device address when mapped (zero-copy), else 0."""
        if not mapped:
            return self.cuda.pagelocked_empty(shape, dtype), 0
        host = self.cuda.pagelocked_empty(shape, dtype, mem_flags=self.cuda.host_alloc_flags.DEVICEMAP)
        return host, int(host.base.get_device_pointer())

    def h2d(self, ptr: int, host: np.ndarray) -> None:
        self.cuda.memcpy_htod_async(ptr, host, self.stream)

    def d2h(self, host: np.ndarray, ptr: int) -> None:
        self.cuda.memcpy_dtoh_async(host, ptr, self.stream)

    def launch(self, name: str, grid: Tuple[int, int, int], args: Sequence[Any]) -> None:
        self.kernels[name](*args, block=BLOCK, grid=grid, stream=self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self, buffers: Sequence[Any]) -> None:
        for mem in buffers:
            mem.free()
        if self.context is not None:
            self.context.pop()
            self.context.detach()


class _CupyBackend(object):
    """The same operations through CuPy (RawKernel on the same source), for checking."""

    name = "cupy"

    def __init__(self, device_id: int, stream: Any = None) -> None:
        import cupy

        self.cupy = cupy
        self.device = cupy.cuda.Device(device_id)
        self.device.use()
        self.stream = stream or cupy.cuda.Stream(non_blocking=True)
        self._mapped = []  # type: List[int]
        module = cupy.RawModule(code=KERNEL_SOURCE)
        self.kernels = {name: module.get_function(name) for name in KERNEL_NAMES}

    def alloc(self, nbytes: int) -> Tuple[Any, int]:
        mem = self.cupy.cuda.alloc(max(1, nbytes))
        return mem, int(mem.ptr)

    def pinned(self, shape: Tuple[int, ...], dtype: Any, mapped: bool) -> Tuple[np.ndarray, int]:
        import ctypes

        count = int(np.prod(shape))
        nbytes = max(1, count * np.dtype(dtype).itemsize)
        if not mapped:
            mem = self.cupy.cuda.alloc_pinned_memory(nbytes)
            return np.frombuffer(mem, dtype, count).reshape(shape), 0
        runtime = self.cupy.cuda.runtime
        ptr = runtime.hostAlloc(nbytes, 2)  # cudaHostAllocMapped
        self._mapped.append(ptr)
        raw = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_uint8)), (nbytes,))
        host = raw[:count * np.dtype(dtype).itemsize].view(dtype).reshape(shape)
        return host, int(ptr)  # with unified addressing the mapped host address is the device's

    def h2d(self, ptr: int, host: np.ndarray) -> None:
        self.cupy.cuda.runtime.memcpyAsync(ptr, host.ctypes.data, host.nbytes, 1, self.stream.ptr)

    def d2h(self, host: np.ndarray, ptr: int) -> None:
        self.cupy.cuda.runtime.memcpyAsync(host.ctypes.data, ptr, host.nbytes, 2, self.stream.ptr)

    def launch(self, name: str, grid: Tuple[int, int, int], args: Sequence[Any]) -> None:
        self.kernels[name](grid, BLOCK, tuple(args), stream=self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self, buffers: Sequence[Any]) -> None:
        del buffers[:]
        for ptr in self._mapped:
            self.cupy.cuda.runtime.freeHost(ptr)
        self._mapped = []


_BACKENDS = {"pycuda": _PycudaBackend, "cupy": _CupyBackend}


class CudaPreprocessor(object):
    """GPU letterbox and crops; buffers grow to the largest frame seen and are reused.

    Host results are views of pinned buffers, valid until the next call of the same method.
    `letterbox_to_device` writes into a caller's device buffer (a TensorRT input binding).
    `zero_copy` (for Jetsons, where GPU and CPU share DRAM): frames and results live in mapped
    pinned memory that the kernels read and write directly, with no copies between them.
    """

    def __init__(self, backend: str = "pycuda", device_id: int = 0, stream: Any = None,
                 fill: int = defaults.LETTERBOX_FILL, swap_rb: bool = True,
                 zero_copy: bool = False) -> None:
        if backend not in _BACKENDS:
            raise ConfigError("unknown CUDA backend %r (use %s)" % (backend, sorted(_BACKENDS)))
        self.backend = backend
        self.device_id, self._shared_stream = device_id, stream
        self.fill, self.swap_rb, self.zero_copy = fill, swap_rb, zero_copy
        self._gpu = None  # type: Any
        self._dev = {}  # type: Dict[str, Tuple[Any, int, int]]  # name -> (handle, ptr, nbytes)
        self._host = {}  # type: Dict[str, Tuple[np.ndarray, int]]  # name -> (flat, device ptr)

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> "CudaPreprocessor":
        """Compile the kernels and create the stream (after any fork)."""
        if self._gpu is None:
            try:
                self._gpu = _BACKENDS[self.backend](self.device_id, self._shared_stream)
            except ImportError:
                raise
            except Exception as exc:  # driver, compiler or device errors
                raise EngineError("cannot set up %s pre-processing: %s" % (self.backend, exc)) from exc
        return self

    def close(self) -> None:
        """Free device buffers and leave the context."""
        if self._gpu is not None:
            self._gpu.synchronize()
            self._gpu.close([handle for handle, _, _ in self._dev.values()])
            self._dev.clear()
            self._host.clear()
            self._gpu = None

    def __enter__(self) -> "CudaPreprocessor":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def stream(self) -> Any:
        """The stream every copy and launch goes on (share it with the inference runtime)."""
        return self._require().stream

    # -- operations ----------------------------------------------------------------
    def letterbox(self, frame: np.ndarray, in_h: int, in_w: int) -> Tuple[np.ndarray, Letterbox]:
        """Detector input [1, 3, in_h, in_w] float32 (pinned host view) and its geometry."""
        host, dst = self._output("det", (1, 3, in_h, in_w), np.float32)
        geo = self.letterbox_to_device(frame, in_h, in_w, dst, synchronize=False)
        return self._finish(host, dst), geo

    def letterbox_to_device(self, frame: np.ndarray, in_h: int, in_w: int, dst_ptr: int,
                            synchronize: bool = True) -> Letterbox:
        """Write the detector input into the float32 [3, in_h, in_w] device buffer at dst_ptr."""
        frame = check_frame(frame)
        src = self.upload(frame)
        geo = self.launch_letterbox(src, frame.shape[0], frame.shape[1], in_h, in_w, dst_ptr)
        if synchronize:
            self._gpu.synchronize()
        return geo

    def launch_letterbox(self, src_ptr: int, src_h: int, src_w: int, in_h: int, in_w: int,
                         dst_ptr: int) -> Letterbox:
        """Only the kernel launch, for a BGR frame already on the device (and for timing)."""
        geo = letterbox_geometry(src_h, src_w, in_h, in_w)
        args = (_ptr(src_ptr), _i32(src_h), _i32(src_w), _i32(src_w * 3), _ptr(dst_ptr),
                _i32(in_h), _i32(in_w), _i32(geo.new_h), _i32(geo.new_w), _i32(geo.top),
                _i32(geo.left), _f32(src_h / float(geo.new_h)), _f32(src_w / float(geo.new_w)),
                _f32(self.fill / 255.0), _i32(self.swap_rb))
        self._require().launch("letterbox_chw", grid_for(in_h, in_w), args)
        return geo

    def crops_u8(self, frame: np.ndarray, boxes: Sequence[Sequence[float]], out_h: int,
                 out_w: int, grey: bool = False) -> np.ndarray:
        """Slot-OCR input uint8 [n, out_h, out_w, 1|3] (pinned host view)."""
        channels = 1 if grey else 3
        frame, src, ints, box_ptr = self._crop_inputs(frame, boxes)
        host, dst = self._output("ocr_u8", (len(ints), out_h, out_w, channels), np.uint8)
        if len(ints):
            args = (_ptr(src), _i32(frame.shape[1] * 3), _ptr(box_ptr), _ptr(dst), _i32(out_h),
                    _i32(out_w), _i32(channels), _i32(self.swap_rb))
            self._gpu.launch("crop_resize_u8", grid_for(out_h, out_w, len(ints)), args)
        return self._finish(host, dst)

    def crops_normalized(self, frame: np.ndarray, boxes: Sequence[Sequence[float]],
                         out_h: int = 224, out_w: int = 224,
                         mean: Sequence[float] = ENCODER_MEAN,
                         std: Sequence[float] = ENCODER_STD) -> np.ndarray:
        """Encoder-OCR input float32 [n, 3, out_h, out_w] (pinned host view)."""
        frame, src, ints, box_ptr = self._crop_inputs(frame, boxes)
        host, dst = self._output("ocr_f32", (len(ints), 3, out_h, out_w), np.float32)
        if len(ints):
            args = ((_ptr(src), _i32(frame.shape[1] * 3), _ptr(box_ptr), _ptr(dst), _i32(out_h),
                     _i32(out_w)) + tuple(_f32(m) for m in mean) + tuple(_f32(s) for s in std)
                    + (_i32(self.swap_rb),))
            self._gpu.launch("crop_resize_norm_chw", grid_for(out_h, out_w, len(ints)), args)
        return self._finish(host, dst)

    # -- buffers -----------------------------------------------------------------------
    def _require(self) -> Any:
        if self._gpu is None:
            raise EngineError("CudaPreprocessor is not open (use it as a context manager)")
        return self._gpu

    def _buffer(self, name: str, nbytes: int) -> int:
        """Device buffer `name` of at least nbytes, grown (never shrunk) as needed."""
        gpu = self._require()
        have = self._dev.get(name)
        if have is None or have[2] < nbytes:
            if have is not None:
                gpu.synchronize()
                if hasattr(have[0], "free"):
                    have[0].free()
            handle, ptr = gpu.alloc(nbytes)
            self._dev[name] = (handle, ptr, nbytes)
        return self._dev[name][1]

    def _pinned(self, name: str, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        """Pinned host staging array `name` reshaped to shape (regrown when too small)."""
        count = int(np.prod(shape))
        have = self._host.get(name)
        if have is None or have[0].size < count or have[0].dtype != np.dtype(dtype):
            have = self._require().pinned((max(count, 1),), dtype, self.zero_copy)
            self._host[name] = have
        return have[0][:count].reshape(shape)

    def upload(self, frame: np.ndarray) -> int:
        """Frame -> pinned staging -> device (async on the stream); returns the device pointer."""
        staging = self._pinned("frame", frame.shape, np.uint8)
        np.copyto(staging, frame)
        if self.zero_copy:
            return self._host["frame"][1]  # the kernel reads the mapped staging directly
        ptr = self._buffer("frame", frame.nbytes)
        self._gpu.h2d(ptr, staging)
        return ptr

    def _crop_inputs(self, frame: np.ndarray, boxes: Sequence[Sequence[float]]
                     ) -> Tuple[np.ndarray, int, np.ndarray, int]:
        frame = check_frame(frame)
        ints = clamp_boxes(boxes, frame.shape[0], frame.shape[1])
        src = self.upload(frame)
        staging = self._pinned("boxes", ints.shape, np.int32)
        np.copyto(staging, ints)
        if self.zero_copy:
            return frame, src, ints, self._host["boxes"][1]
        box_ptr = self._buffer("boxes", max(ints.nbytes, 16))
        if len(ints):
            self._gpu.h2d(box_ptr, staging)
        return frame, src, ints, box_ptr

    def _output(self, name: str, shape: Tuple[int, ...], dtype: Any) -> Tuple[np.ndarray, int]:
        """Pinned host result array and the device address a kernel writes it through."""
        host = self._pinned(name, shape, dtype)
        if self.zero_copy:
            return host, self._host[name][1]
        return host, self._buffer(name, max(host.nbytes, 1))

    def _finish(self, host: np.ndarray, dst: int) -> np.ndarray:
        """Copy a result back (unless zero-copy) and wait for the stream once."""
        if host.size and not self.zero_copy:
            self._gpu.d2h(host, dst)
        self._gpu.synchronize()
        return host


def cuda_backend_available(backend: str = "pycuda") -> Optional[str]:
    """None when `backend` imports and sees a GPU, else the reason it cannot be used."""
    try:
        if backend == "pycuda":
            import pycuda.driver as cuda

            cuda.init()
            count = cuda.Device.count()
        elif backend == "cupy":
            import cupy

            count = cupy.cuda.runtime.getDeviceCount()
        else:
            return "unknown backend %r" % backend
    except ImportError as exc:
        return "%s is not installed (%s)" % (backend, exc)
    except Exception as exc:  # no driver, no device
        return "%s cannot reach a CUDA device (%s)" % (backend, exc)
    return None if count > 0 else "%s sees no CUDA device" % backend


def make_preprocessor(prefer: str = "pycuda", device_id: int = 0, stream: Any = None,
                      fill: int = defaults.LETTERBOX_FILL, swap_rb: bool = True,
                      zero_copy: bool = False) -> Any:
    """A CudaPreprocessor on `prefer` ("pycuda", "cupy") when usable, else CpuPreprocessor."""
    if prefer != "cpu":
        reason = cuda_backend_available(prefer)
        if reason is None:
            return CudaPreprocessor(prefer, device_id, stream, fill, swap_rb, zero_copy)
        log.warning("GPU pre-processing unavailable, using the CPU path: %s", reason)
    return CpuPreprocessor(fill, swap_rb)
