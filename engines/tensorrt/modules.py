"""Late imports of tensorrt and pycuda.driver, with clear errors when they are missing."""
import importlib
from types import ModuleType

from alpr.errors import ConfigError


def import_tensorrt() -> ModuleType:
    """The `tensorrt` module, or ConfigError saying how to get it (JetPack / NGC / pip)."""
    try:
        return importlib.import_module("tensorrt")
    except ImportError as exc:
        raise ConfigError("runtime 'tensorrt' needs the tensorrt Python package (JetPack's "
                          "python3-libnvinfer on a Jetson, or NVIDIA's wheels elsewhere): %s"
                          % exc) from exc


def import_cuda() -> ModuleType:
    """`pycuda.driver`, or ConfigError (pycuda is built from source on a Jetson)."""
    try:
        return importlib.import_module("pycuda.driver")
    except ImportError as exc:
        raise ConfigError("runtime 'tensorrt' needs pycuda (pip install pycuda; on a Jetson "
                          "export CUDA's bin dir to PATH first): %s" % exc) from exc


def api_generation(trt: ModuleType) -> int:
    """10 for the name-based tensor API (TRT 8.5+ / 10), 8 for the binding-index API (8.2)."""
    engine_cls = getattr(trt, "ICudaEngine", None)
    if engine_cls is not None and hasattr(engine_cls, "num_io_tensors"):
        return 10
    return 8


def version_of(trt: ModuleType) -> str:
    """tensorrt.__version__ (e.g. '8.2.1.8')."""
    return str(getattr(trt, "__version__", "unknown"))
