"""Open a model file on the runtime a node is configured for (the one place that dispatches)."""
import os
from typing import Any, Optional, Sequence

from alpr import defaults
from alpr.errors import ConfigError
from engines.runtime import Runtime

RUNTIMES = ("onnxruntime", "tensorrt")


def open_runtime(model_path: str, runtime: str = defaults.RUNTIME,
                 providers: Optional[Sequence[Any]] = None,
                 intra_op_threads: int = defaults.INTRA_OP_THREADS,
                 inter_op_threads: int = defaults.INTER_OP_THREADS,
                 **trt_options: Any) -> Runtime:
    """A Runtime for `model_path`: "onnxruntime" -> OnnxRuntime; "tensorrt" -> the TensorRT
    loader (engine built from / cached for the ONNX file; `trt_options` go to it)."""
    name = (runtime or defaults.RUNTIME).strip().lower()
    path = os.path.expanduser(model_path)
    if name == "onnxruntime":
        from engines.onnx_runtime import OnnxRuntime

        return OnnxRuntime(path, providers=providers, intra_op_threads=intra_op_threads,
                           inter_op_threads=inter_op_threads)
    if name == "tensorrt":
        from engines.tensorrt.loader import open_trt_runtime  # heavy: only on TensorRT nodes

        return open_trt_runtime(path, **trt_options)
    raise ConfigError("unknown runtime %r (choose from %s)" % (runtime, ", ".join(RUNTIMES)))


def open_from_settings(model_path: str, settings: Any) -> Runtime:
    """`open_runtime` with the runtime, providers, threads and TensorRT options of Settings."""
    return open_runtime(
        model_path, runtime=settings.runtime, providers=settings.providers,
        intra_op_threads=settings.intra_op_threads, inter_op_threads=settings.inter_op_threads,
        **trt_options_from(settings))


def trt_options_from(settings: Any) -> dict:
    """TensorRT loader keyword arguments (engines.tensorrt.loader.open_trt_runtime) from
    Settings; fields a Settings object lacks keep the loader's defaults."""
    names = {"engine_cache_dir": "cache_dir", "trt_workspace_mb": "workspace_mb",
             "trt_fp16": "fp16", "trt_allow_build": "allow_build",
             "trt_zero_copy": "zero_copy", "trt_max_batch": "max_batch"}
    out = {}
    for field, option in names.items():
        if hasattr(settings, field):
            out[option] = getattr(settings, field)
    if "cache_dir" in out:
        out["cache_dir"] = os.path.expanduser(out["cache_dir"])
    return out
