"""Recognition engines: runtimes (ONNX Runtime, TensorRT), model adapters, the pipeline.

Nothing here knows about Redis. Heavy libraries are imported inside the modules that
need them, never at package import time.
"""

import alpr  # noqa: E402,F401  (one BLAS thread: see alpr/__init__.py; before numpy loads)
