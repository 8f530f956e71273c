"""A fake of the `pycuda.driver` calls the TensorRT backend uses (a test double, not a GPU).

Modelled on pycuda's documented driver API: init, Device(i).name/compute_capability/
get_attribute/make_context, Context.push/pop/detach, Stream(.handle, .synchronize),
mem_alloc (DeviceAllocation: int(), free), pagelocked_empty(..., mem_flags) whose array
.base is a HostAllocation (get_device_pointer only for DEVICEMAP memory, free),
memcpy_htod(_async) / memcpy_dtoh(_async). Strictness that catches real bugs:
- allocations need a current context (LogicError otherwise, like pycuda);
- async copies need page-locked host memory and only happen at Stream.synchronize(),
  so reading results before synchronising returns stale data;
- device memory is a byte array per pointer: sizes and dtypes are checked exactly.
Every call is appended to CALLS as (name, detail) so tests can assert call sequences.
"""
import itertools
from typing import Dict, List, Tuple

import numpy as np

CALLS = []  # type: List[Tuple[str, object]]
MEMORY = {}  # type: Dict[int, np.ndarray]  # device pointer -> uint8 bytes
STREAMS = {}  # type: Dict[int, "Stream"]
CONTEXT_STACK = []  # type: List["Context"]
STATE = {"initialised": False, "integrated": False, "name": "Fake GPU", "cc": (7, 5),
         "memory": 4 * 1024 ** 3}
_pointers = itertools.count(0x10000, 0x10000)


class LogicError(RuntimeError):
    pass


class Error(RuntimeError):
    pass


def reset(integrated: bool = False, name: str = "Fake GPU", cc: Tuple[int, int] = (7, 5)) -> None:
    """Forget every allocation, stream, context and call (tests call this first)."""
    del CALLS[:]
    MEMORY.clear()
    STREAMS.clear()
    del CONTEXT_STACK[:]
    STATE.update(initialised=False, integrated=integrated, name=name, cc=cc)


def _log(name: str, detail: object = None) -> None:
    CALLS.append((name, detail))


def _need_context() -> None:
    if not STATE["initialised"]:
        raise LogicError("cuInit has not been called")
    if not CONTEXT_STACK:
        raise LogicError("explicit_context_dependent failed: invalid device context - "
                         "no currently active context?")


class device_attribute(object):
    INTEGRATED = "INTEGRATED"
    CAN_MAP_HOST_MEMORY = "CAN_MAP_HOST_MEMORY"


class host_alloc_flags(object):
    PORTABLE = 1
    DEVICEMAP = 2
    WRITECOMBINED = 4


def init(flags: int = 0) -> None:
    STATE["initialised"] = True
    _log("init")


class Context(object):
    def __init__(self, device: "Device") -> None:
        self.device = device
        self.detached = False

    def push(self) -> None:
        _log("Context.push")
        CONTEXT_STACK.append(self)

    def pop(self) -> None:
        _log("Context.pop")
        if not CONTEXT_STACK or CONTEXT_STACK[-1] is not self:
            raise LogicError("context stack is not as expected")
        CONTEXT_STACK.pop()

    def detach(self) -> None:
        _log("Context.detach")
        self.detached = True

    @staticmethod
    def synchronize() -> None:
        _log("Context.synchronize")


class Device(object):
    def __init__(self, index: int) -> None:
        if not STATE["initialised"]:
            raise LogicError("cuInit has not been called")
        self.index = index

    def name(self) -> str:
        return STATE["name"]

    def compute_capability(self) -> Tuple[int, int]:
        return STATE["cc"]

    def total_memory(self) -> int:
        return STATE["memory"]

    @staticmethod
    def count() -> int:
        return 1 if STATE["initialised"] else 0

    def get_attribute(self, attr: str) -> int:
        if attr == device_attribute.INTEGRATED:
            return int(STATE["integrated"])
        if attr == device_attribute.CAN_MAP_HOST_MEMORY:
            return 1
        raise Error("unknown attribute %r" % attr)

    def make_context(self, flags: int = 0) -> Context:
        _log("Device.make_context", self.index)
        ctx = Context(self)
        CONTEXT_STACK.append(ctx)
        return ctx


class DeviceAllocation(object):
    def __init__(self, nbytes: int) -> None:
        self.ptr = next(_pointers)
        self.nbytes = nbytes
        MEMORY[self.ptr] = np.zeros(nbytes, np.uint8)

    def __int__(self) -> int:
        return self.ptr

    __index__ = __int__

    def free(self) -> None:
        _log("DeviceAllocation.free", self.nbytes)
        MEMORY.pop(self.ptr, None)


def mem_alloc(nbytes: int) -> DeviceAllocation:
    _need_context()
    _log("mem_alloc", int(nbytes))
    return DeviceAllocation(int(nbytes))


class HostAllocation(bytearray):
    """Page-locked host memory; with DEVICEMAP the GPU reads it through a device pointer."""

    def __init__(self, nbytes: int, flags: int) -> None:
        super().__init__(nbytes)
        self.flags = flags
        self.device_ptr = None
        if flags & host_alloc_flags.DEVICEMAP:
            self.device_ptr = next(_pointers)
            MEMORY[self.device_ptr] = np.frombuffer(self, np.uint8)  # shared, not copied

    def get_device_pointer(self) -> int:
        if self.device_ptr is None:
            raise LogicError("cuMemHostGetDevicePointer failed: memory was not mapped (DEVICEMAP)")
        return self.device_ptr

    def free(self) -> None:
        _log("HostAllocation.free", len(self))
        if self.device_ptr is not None:
            MEMORY.pop(self.device_ptr, None)


def pagelocked_empty(shape, dtype, order: str = "C", mem_flags: int = 0) -> np.ndarray:
    _need_context()
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    _log("pagelocked_empty", (shape, dtype.name, mem_flags))
    return np.ndarray(shape, dtype, buffer=HostAllocation(nbytes, mem_flags), order=order)


def _is_pagelocked(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, HostAllocation)


def _ptr(dest) -> int:
    ptr = int(dest)
    if ptr not in MEMORY:
        raise LogicError("invalid device pointer 0x%x" % ptr)
    return ptr


class Stream(object):
    def __init__(self, flags: int = 0) -> None:
        _need_context()
        self.handle = next(_pointers)
        self.pending = []  # type: List[object]
        STREAMS[self.handle] = self
        _log("Stream")

    def enqueue(self, op) -> None:
        self.pending.append(op)

    def synchronize(self) -> None:
        _log("Stream.synchronize", len(self.pending))
        pending, self.pending = self.pending, []
        for op in pending:
            op()

    def is_done(self) -> bool:
        return not self.pending


def _copy_in(ptr: int, src: np.ndarray) -> None:
    raw = np.ascontiguousarray(src).view(np.uint8).reshape(-1)
    if raw.size > MEMORY[ptr].size:
        raise LogicError("copy of %d bytes overflows a %d-byte allocation" % (raw.size, MEMORY[ptr].size))
    MEMORY[ptr][:raw.size] = raw


def _copy_out(dest: np.ndarray, ptr: int) -> None:
    raw = dest.view(np.uint8).reshape(-1)
    if raw.size > MEMORY[ptr].size:
        raise LogicError("copy of %d bytes reads past a %d-byte allocation" % (raw.size, MEMORY[ptr].size))
    raw[:] = MEMORY[ptr][:raw.size]


def memcpy_htod(dest, src: np.ndarray) -> None:
    ptr = _ptr(dest)
    _log("memcpy_htod", src.nbytes)
    _copy_in(ptr, src)


def memcpy_dtoh(dest: np.ndarray, src) -> None:
    ptr = _ptr(src)
    _log("memcpy_dtoh", dest.nbytes)
    _copy_out(dest, ptr)


def memcpy_htod_async(dest, src: np.ndarray, stream: Stream = None) -> None:
    ptr = _ptr(dest)
    if not _is_pagelocked(src):
        raise LogicError("memcpy_htod_async needs page-locked host memory")
    _log("memcpy_htod_async", src.nbytes)
    stream.enqueue(lambda: _copy_in(ptr, src))


def memcpy_dtoh_async(dest: np.ndarray, src, stream: Stream = None) -> None:
    ptr = _ptr(src)
    if not _is_pagelocked(dest):
        raise LogicError("memcpy_dtoh_async needs page-locked host memory")
    _log("memcpy_dtoh_async", dest.nbytes)
    stream.enqueue(lambda: _copy_out(dest, ptr))


def read_device(ptr: int, shape, dtype) -> np.ndarray:
    """Test/fake-TensorRT helper: the bytes at `ptr` as an array (what a kernel would read)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    if n > MEMORY[ptr].size:
        raise LogicError("kernel reads %d bytes from a %d-byte allocation" % (n, MEMORY[ptr].size))
    return MEMORY[ptr][:n].view(dtype).reshape(shape).copy()


def write_device(ptr: int, array: np.ndarray) -> None:
    """Fake-TensorRT helper: a kernel writing its output."""
    _copy_in(ptr, array)
