"""platerec's own `detect_read`: the reader `alpr bench pipeline` races ours against.

It runs on the same ONNX Runtime providers and thread settings as our pipeline and reads
each frame from its JPEG bytes, decoded with PIL as platerec's users do.
"""
import io
from typing import Any, List


def reference_reader(settings: Any) -> Any:
    """platerec's own Platerec (with platedet) on the same providers and thread counts."""
    import onnxruntime as ort
    from platerec import Platerec

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # as engines.onnx_runtime sets
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # as engines.onnx_runtime: with ORT's default spinning, these sessions' idle threads keep
    # a core busy for seconds after each run, slowing whatever is timed next (our passes)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return Platerec(sess_options=options, providers=list(settings.providers))


def reference_read(reader: Any, data: bytes) -> List[Any]:
    """Decode with PIL as platerec's users do, then detect_read; reads as (text, box)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = reader.detect_read(image)
    return [(w, [int(v) for v in b]) for w, b in zip(out.get("words", []), out.get("boxes", []))]
