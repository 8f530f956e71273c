"""Host and device memory for one engine I/O tensor, allocated once at its largest shape.

Two kinds: a pinned (page-locked, CPU-cached) host array plus a device allocation, copied
asynchronously on the stream; or, on unified-memory Jetsons, one mapped pinned array the
GPU reads through its device pointer (zero-copy, no copies at all). Mapped memory is
uncached for the CPU on a Nano, so it suits write-once inputs, not outputs the CPU parses.
"""
from types import ModuleType
from typing import Sequence, Tuple

import numpy as np

from alpr.errors import EngineError

#: zero-copy policies: which tensors get mapped host memory on an integrated GPU
ZERO_COPY_POLICIES = ("auto", "never", "inputs", "all")


def use_zero_copy(policy: str, integrated: bool, is_input: bool) -> bool:
    """Whether one tensor gets mapped memory: 'auto' = inputs on integrated GPUs only."""
    if policy not in ZERO_COPY_POLICIES:
        raise EngineError("zero-copy policy %r not in %s" % (policy, ZERO_COPY_POLICIES))
    if policy == "never" or not integrated:
        return False
    if policy == "all":
        return True
    return is_input  # auto / inputs


def volume(shape: Sequence[int]) -> int:
    """Number of elements of a concrete shape."""
    n = 1
    for d in shape:
        if d < 0:
            raise EngineError("shape %s is not concrete" % (tuple(shape),))
        n *= int(d)
    return n


class TensorBuffer(object):
    """Pinned host memory (+ device memory unless zero-copy) for `max_shape` of `dtype`."""

    def __init__(self, cuda: ModuleType, name: str, max_shape: Sequence[int], dtype: np.dtype,
                 zero_copy: bool = False) -> None:
        self.name = name
        self.dtype = np.dtype(dtype)
        self.max_shape = tuple(int(d) for d in max_shape)
        self.capacity = volume(self.max_shape)
        self.nbytes = self.capacity * self.dtype.itemsize
        self.zero_copy = zero_copy
        self._cuda = cuda
        self.device = None
        if zero_copy:
            self.host = cuda.pagelocked_empty(self.capacity, self.dtype,
                                              mem_flags=cuda.host_alloc_flags.DEVICEMAP)
            self.device_ptr = int(self.host.base.get_device_pointer())
        else:
            self.host = cuda.pagelocked_empty(self.capacity, self.dtype)
            self.device = cuda.mem_alloc(self.nbytes)
            self.device_ptr = int(self.device)

    def _count(self, shape: Tuple[int, ...]) -> int:
        n = volume(shape)
        if n > self.capacity:
            raise EngineError("tensor %s of shape %s exceeds its buffer (max shape %s)"
                              % (self.name, shape, self.max_shape))
        return n

    def upload(self, array: np.ndarray, stream) -> None:
        """Copy `array` into pinned memory and queue the H2D copy (none when zero-copy)."""
        n = self._count(array.shape)
        self.host[:n] = np.ascontiguousarray(array, dtype=self.dtype).reshape(-1)
        if not self.zero_copy:
            self._cuda.memcpy_htod_async(self.device, self.host[:n], stream)

    def download(self, shape: Tuple[int, ...], stream) -> None:
        """Queue the D2H copy of `shape` elements (none when zero-copy)."""
        n = self._count(shape)
        if not self.zero_copy:
            self._cuda.memcpy_dtoh_async(self.host[:n], self.device, stream)

    def result(self, shape: Tuple[int, ...]) -> np.ndarray:
        """A copy of the first volume(shape) host elements (call after synchronize)."""
        n = self._count(shape)
        return self.host[:n].reshape(shape).copy()

    def free(self) -> None:
        """Release device and pinned memory now rather than at garbage collection."""
        if self.device is not None:
            self.device.free()
            self.device = None
        base = getattr(self.host, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()
