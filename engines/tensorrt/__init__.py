"""TensorRT backend: engine build, engine cache, pycuda buffers and the Runtime for TRT 8.2 / 10.

Nothing here imports tensorrt or pycuda at module import time; `loader.open_trt_runtime`
is the entry point the engine factory calls when settings.runtime == "tensorrt".
"""
