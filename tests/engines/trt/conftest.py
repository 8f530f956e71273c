"""Fixtures for the TensorRT backend tests: the fakes installed as tensorrt / pycuda.driver."""
import os
import sys
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.dirname(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import fake_pycuda  # noqa: E402
import fake_tensorrt8  # noqa: E402
import fake_tensorrt10  # noqa: E402


@pytest.fixture
def gpu(monkeypatch):
    """A fresh fake GPU (discrete, sm 7.5) as `pycuda.driver`; no CUDA context left over."""
    from engines.tensorrt import cuda_context

    fake_pycuda.reset()
    monkeypatch.setattr(cuda_context, "_SHARED", {})
    package = types.ModuleType("pycuda")
    package.driver = fake_pycuda
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", fake_pycuda)
    yield fake_pycuda
    fake_pycuda.reset()


@pytest.fixture(params=["8", "10"])
def trt(request, gpu, monkeypatch):
    """Each fake TensorRT generation in turn, installed as `tensorrt`."""
    module = fake_tensorrt8 if request.param == "8" else fake_tensorrt10
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setitem(module.PLATFORM, "fast_fp16", True)
    return module
