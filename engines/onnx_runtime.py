"""ONNX Runtime backend of the runtime contract (CPU, CUDA EP or TensorRT EP providers)."""
import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from alpr import defaults
from alpr.errors import EngineError, ModelError
from engines.runtime import Runtime, TensorSpec

log = logging.getLogger(__name__)

#: ONNX Runtime type strings -> numpy dtypes
ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}

Provider = Union[str, Tuple[str, Dict[str, Any]]]


def _spec(node: Any) -> TensorSpec:
    if node.type not in ORT_DTYPES:
        raise ModelError("tensor %r has unsupported type %s" % (node.name, node.type))
    shape = [d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None)
             for d in (node.shape or [])]
    return TensorSpec(node.name, shape, ORT_DTYPES[node.type])


def pick_providers(wanted: Optional[Sequence[Provider]]) -> List[Provider]:
    """The wanted providers this onnxruntime build has, in order; CPU is always last."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen = []  # type: List[Provider]
    for item in wanted or ["CPUExecutionProvider"]:
        name = item[0] if isinstance(item, tuple) else item
        if name in available:
            chosen.append(item)
        else:
            log.warning("onnxruntime has no %s here (have %s); skipping it",
                        name, ", ".join(sorted(available)))
    if not any((c[0] if isinstance(c, tuple) else c) == "CPUExecutionProvider" for c in chosen):
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRuntime(Runtime):
    """One ONNX model in an onnxruntime InferenceSession."""

    backend = "onnxruntime"

    def __init__(self, model_path: str, providers: Optional[Sequence[Provider]] = None,
                 intra_op_threads: int = defaults.INTRA_OP_THREADS,
                 inter_op_threads: int = defaults.INTER_OP_THREADS,
                 session_options: Any = None, spin: bool = False) -> None:
        super().__init__()
        import onnxruntime as ort

        self.model_path = str(model_path)
        if not os.path.isfile(self.model_path):
            raise ModelError("model file not found: %s" % self.model_path)
        options = session_options or ort.SessionOptions()
        if session_options is None:
            options.intra_op_num_threads = max(0, int(intra_op_threads))
            options.inter_op_num_threads = max(0, int(inter_op_threads))
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3  # ORT's warnings about unused initialisers are noise
            if not spin:
                # idle ORT workers otherwise busy-wait after each run and starve the host work
                # between runs (decode, letterbox, crops) on a small CPU
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.requested_providers = list(providers or ["CPUExecutionProvider"])
        try:
            self.session = ort.InferenceSession(self.model_path, sess_options=options,
                                                providers=pick_providers(self.requested_providers))
        except Exception as exc:  # ORT raises its own pybind error types
            raise ModelError("onnxruntime cannot load %s: %s" % (self.model_path, exc)) from exc
        self._inputs = [_spec(n) for n in self.session.get_inputs()]
        self._outputs = [_spec(n) for n in self.session.get_outputs()]
        self._output_names = [s.name for s in self._outputs]

    @property
    def inputs(self) -> List[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> List[TensorSpec]:
        return self._outputs

    @property
    def providers(self) -> List[str]:
        """The providers the session actually uses."""
        return list(self.session.get_providers())

    def _run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        try:
            values = self.session.run(self._output_names, feeds)
        except Exception as exc:
            raise EngineError("onnxruntime failed on %s: %s"
                              % (os.path.basename(self.model_path), exc)) from exc
        return dict(zip(self._output_names, values))

    def _close(self) -> None:
        self.session = None

    def __repr__(self) -> str:
        return "OnnxRuntime(%r, providers=%r)" % (self.model_path, self.requested_providers)
