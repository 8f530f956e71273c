"""The runtime contract: named numpy tensors in, named numpy tensors out.

Every inference backend (ONNX Runtime, TensorRT 8.2 bindings, TensorRT 10 tensors)
implements `Runtime`; every model adapter talks only to this contract, so any adapter
runs on any runtime. Runtimes own their resources and are context managers.
"""
import abc
import time
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from alpr.errors import EngineError

Dim = Union[int, str, None]  # a fixed size, or a symbolic / dynamic dimension


class TensorSpec(object):
    """Name, shape (dynamic dims as None or a symbol) and numpy dtype of one model I/O."""

    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name: str, shape: Sequence[Dim], dtype: Union[str, np.dtype]) -> None:
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def is_dynamic(self) -> bool:
        return any(not isinstance(d, int) or d < 0 for d in self.shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorSpec) and (self.name, self.shape, self.dtype) == (
            other.name, other.shape, other.dtype)

    def __repr__(self) -> str:
        return "TensorSpec(%r, %r, %s)" % (self.name, self.shape, self.dtype)


class Runtime(abc.ABC):
    """One loaded model. `run` checks names/dtypes, then calls the backend's `_run`."""

    #: short backend name, e.g. "onnxruntime", "tensorrt8", "tensorrt10"
    backend = "abstract"

    def __init__(self) -> None:
        self.closed = False
        self.calls = 0
        self.total_ms = 0.0  # cumulative inference time, for pipeline overhead accounting

    @property
    @abc.abstractmethod
    def inputs(self) -> List[TensorSpec]:
        """Input tensor specs, in model order."""

    @property
    @abc.abstractmethod
    def outputs(self) -> List[TensorSpec]:
        """Output tensor specs, in model order."""

    @abc.abstractmethod
    def _run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Backend inference on validated feeds; returns every output by name."""

    def _close(self) -> None:
        """Backend resource release (buffers, streams, sessions)."""

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Validate feeds against `inputs` (cast to the declared dtype), run, time it."""
        if self.closed:
            raise EngineError("%s runtime is closed" % self.backend)
        expected = {spec.name: spec for spec in self.inputs}
        missing = sorted(set(expected) - set(feeds))
        extra = sorted(set(feeds) - set(expected))
        if missing or extra:
            raise EngineError("feeds do not match model inputs: missing %s, unexpected %s"
                              % (missing, extra))
        checked = {}
        for name, array in feeds.items():
            spec = expected[name]
            array = np.asarray(array)
            if array.dtype != spec.dtype:
                array = array.astype(spec.dtype)
            if len(array.shape) != len(spec.shape) or any(
                isinstance(d, int) and d >= 0 and d != a for d, a in zip(spec.shape, array.shape)
            ):
                raise EngineError("input %r has shape %s, model expects %s"
                                  % (name, array.shape, spec.shape))
            checked[name] = array
        start = time.perf_counter()
        out = self._run(checked)
        self.total_ms += (time.perf_counter() - start) * 1000.0
        self.calls += 1
        return out

    def input(self, name: Optional[str] = None) -> TensorSpec:
        """The named input spec, or the only/first one."""
        return _find(self.inputs, name)

    def output(self, name: Optional[str] = None) -> TensorSpec:
        """The named output spec, or the only/first one."""
        return _find(self.outputs, name)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find(specs: List[TensorSpec], name: Optional[str]) -> TensorSpec:
    if name is None:
        return specs[0]
    for spec in specs:
        if spec.name == name:
            return spec
    raise EngineError("no tensor named %r (have %s)" % (name, [s.name for s in specs]))
