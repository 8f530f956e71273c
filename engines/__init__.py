"""Recognition engines: runtimes (ONNX Runtime, TensorRT), model adapters, the pipeline.

Nothing here knows about Redis. Heavy libraries are imported inside the modules that
need them, never at package import time.
"""
