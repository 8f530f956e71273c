"""One CUDA context per worker process, created after any fork and released on shutdown.

A context made before os.fork() is unusable in the child (the driver state is not
inherited), so the context records its creator pid and refuses use from another process.
"""
import os
from types import ModuleType
from typing import Dict, Optional, Tuple

from alpr.errors import EngineError


class CudaContext(object):
    """Owns a pycuda context on one device; a context manager, pushed on this thread."""

    def __init__(self, device_index: int = 0, cuda: Optional[ModuleType] = None) -> None:
        self.device_index = device_index
        self._cuda = cuda
        self.context = None
        self.device = None
        self.pid = None  # type: Optional[int]
        self.name = ""
        self.compute_capability = (0, 0)
        self.integrated = False  # unified memory (Jetson): zero-copy buffers pay off
        self.refs = 0  # runtimes sharing this context (see shared_context)

    @property
    def cuda(self) -> ModuleType:
        if self._cuda is None:
            from engines.tensorrt.modules import import_cuda

            self._cuda = import_cuda()
        return self._cuda

    def open(self) -> "CudaContext":
        """Initialise the driver and create (and push) the context in this process."""
        if self.context is not None:
            self.check_process()
            return self
        cuda = self.cuda
        try:
            cuda.init()
            self.device = cuda.Device(self.device_index)
            self.context = self.device.make_context()
        except Exception as exc:
            raise EngineError("cannot create a CUDA context on device %d: %s"
                              % (self.device_index, exc)) from exc
        self.pid = os.getpid()
        self.name = str(self.device.name())
        self.compute_capability = tuple(self.device.compute_capability())
        self.integrated = bool(self.device.get_attribute(cuda.device_attribute.INTEGRATED))
        return self

    def check_process(self) -> None:
        """Raise if this context was created in another process (used across a fork)."""
        if self.pid is not None and self.pid != os.getpid():
            raise EngineError("CUDA context was created in pid %d and cannot be used in pid %d: "
                              "create it after forking" % (self.pid, os.getpid()))

    def close(self) -> None:
        """Pop and detach the context (only in the process that made it)."""
        if self.context is None:
            return
        context, self.context = self.context, None
        if self.pid != os.getpid():
            return  # a forked child must not tear down its parent's context
        try:
            context.pop()
        finally:
            context.detach()

    def __enter__(self) -> "CudaContext":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


#: (pid, device) -> the process's shared context; a forked child never finds its parent's
_SHARED = {}  # type: Dict[Tuple[int, int], CudaContext]


def shared_context(device_index: int = 0, cuda: Optional[ModuleType] = None) -> CudaContext:
    """The one context of this process on `device_index` (opened on first use), refcounted:
    every engine of a worker runs in it; pair each call with release()."""
    key = (os.getpid(), device_index)
    ctx = _SHARED.get(key)
    if ctx is None or ctx.context is None:
        ctx = CudaContext(device_index, cuda).open()
        _SHARED[key] = ctx
    ctx.refs += 1
    return ctx


def release(ctx: CudaContext) -> None:
    """Drop one reference; the last one closes the context."""
    ctx.refs = max(0, ctx.refs - 1)
    if ctx.refs == 0:
        ctx.close()
        for key, value in list(_SHARED.items()):
            if value is ctx:
                del _SHARED[key]
