"""Prove a prepared model computes what the original does: same feeds, ONNX Runtime on both,
max abs / rel difference per output, on random inputs and on a real (or generated) image.

The reference side can be saved to an .npz and compared on another interpreter, e.g.
originals run by Python 3.11's onnxruntime and the converted copy by the Nano's ORT 1.10.
"""
from collections import OrderedDict, namedtuple
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx

from alpr.errors import ModelError
from engines.prepare import rewrite

#: the two feed kinds every check uses
FEED_KINDS = ("random", "real")
DEFAULT_DIM = 2  # value for dynamic dims (batch 2 also exercises batching)
IMAGE_DIM = 160  # dynamic height/width of an image input (PP-OCR's: a multiple of 32)
INT_HIGH = 8  # integer inputs (token ids) are drawn from [0, INT_HIGH)

Comparison = namedtuple("Comparison", "feed output shape max_abs max_rel ok")
Runs = Dict[str, Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]]  # kind -> (feeds, outputs)


def np_dtype(elem_type: int) -> np.dtype:
    """numpy dtype of an ONNX TensorProto elem_type (works on onnx 1.11 and 1.2x)."""
    helper_fn = getattr(onnx.helper, "tensor_dtype_to_np_dtype", None)
    if helper_fn is not None:
        return np.dtype(helper_fn(elem_type))
    return np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem_type])  # onnx < 1.13


def graph_inputs(model: onnx.ModelProto) -> List[Tuple[str, list, np.dtype]]:
    """(name, dims with dynamic ones as their symbol or None, dtype) of real graph inputs."""
    inits = {t.name for t in model.graph.initializer}
    out = []
    for value in model.graph.input:
        if value.name in inits:
            continue
        t = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
        out.append((value.name, dims, np_dtype(t.elem_type)))
    return out


def generated_scene(height: int = 720, width: int = 1280, seed: int = 0) -> np.ndarray:
    """A BGR road-like frame with one white plate and dark glyphs (no photo needed)."""
    import cv2

    rng = np.random.RandomState(seed)
    img = rng.randint(60, 120, size=(height, width, 3)).astype(np.uint8)
    x, y, w, h = width // 3, height // 2, width // 5, height // 12
    cv2.rectangle(img, (x, y), (x + w, y + h), (235, 235, 235), -1)
    cv2.rectangle(img, (x, y), (x + w, y + h), (20, 20, 20), 2)
    cv2.putText(img, "ABC1D23", (x + w // 20, y + int(h * 0.8)), cv2.FONT_HERSHEY_SIMPLEX,
                h / 32.0, (15, 15, 15), max(1, h // 12))
    return img


def load_sample(path: Optional[str]) -> np.ndarray:
    """The BGR image at `path`, or a generated scene when no path is given."""
    if not path:
        return generated_scene()
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ModelError("cannot read sample image %s" % path)
    return img


def _image_layout(dims: list) -> Optional[str]:
    if len(dims) != 4:
        return None
    if dims[1] in (1, 3) and isinstance(dims[2], int) and isinstance(dims[3], int):
        return "nchw"
    if dims[3] in (1, 3) and isinstance(dims[1], int) and isinstance(dims[2], int):
        return "nhwc"
    return None


def _image_feed(img: np.ndarray, dims: list, dtype: np.dtype) -> np.ndarray:
    import cv2

    layout = _image_layout(dims)
    n = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else DEFAULT_DIM
    c, h, w = (dims[1], dims[2], dims[3]) if layout == "nchw" else (dims[3], dims[1], dims[2])
    resized = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    pix = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)[:, :, None] if c == 1 else resized[:, :, ::-1]
    arr = pix.transpose(2, 0, 1) if layout == "nchw" else pix
    arr = np.repeat(arr[None], n, axis=0)
    if dtype.kind == "f":
        arr = arr.astype(np.float32) / 255.0
    return np.ascontiguousarray(arr.astype(dtype))


def concrete_dims(shape: list, dims: Optional[Dict[str, int]] = None) -> List[int]:
    """A shape with its dynamic dims set: by name from `dims`, else IMAGE_DIM for the
    height and width of an [N, 1|3, H, W] image input, else DEFAULT_DIM."""
    image = len(shape) == 4 and shape[1] in (1, 3)
    out = []
    for i, d in enumerate(shape):
        if isinstance(d, int) and d > 0:
            out.append(d)
        else:
            out.append((dims or {}).get(str(d), IMAGE_DIM if image and i >= 2 else DEFAULT_DIM))
    return out


def make_feeds(model: onnx.ModelProto, kind: str, seed: int = 0,
               dims: Optional[Dict[str, int]] = None,
               sample: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """Feeds for every input of `model`: random values, or the sample image where an input
    looks like an image (4-D, 1 or 3 channels) when kind == "real"."""
    rng = np.random.RandomState(seed)
    feeds = OrderedDict()
    for name, shape, dtype in graph_inputs(model):
        concrete = concrete_dims(shape, dims)
        if kind == "real" and _image_layout(concrete) is not None:
            feeds[name] = _image_feed(sample if sample is not None else generated_scene(),
                                      concrete, dtype)
            continue
        if dtype.kind in "iu":
            high = 256 if dtype == np.uint8 else INT_HIGH
            feeds[name] = rng.randint(0, high, size=concrete).astype(dtype)
        elif dtype == np.bool_:
            feeds[name] = rng.rand(*concrete) > 0.5
        else:
            feeds[name] = rng.rand(*concrete).astype(np.float32).astype(dtype)
    return feeds


def ort_session(model_or_path):
    """A CPU onnxruntime session for a path or ModelProto, errors wrapped in ModelError."""
    import onnxruntime as ort

    data = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else model_or_path
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError("onnxruntime %s cannot load the model: %s"
                         % (ort.__version__, str(exc).splitlines()[0][:300])) from exc


def run_model(model_or_path, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Every output of a model on `feeds`, by name."""
    session = ort_session(model_or_path)
    names = [o.name for o in session.get_outputs()]
    return OrderedDict(zip(names, session.run(names, feeds)))


def reference_model(original: onnx.ModelProto, converted: onnx.ModelProto) -> onnx.ModelProto:
    """The original, cut at the same tensors as the converted copy when that one was cut."""
    info = rewrite.cut_info(converted)
    if info is None:
        return original
    from onnx.utils import Extractor

    inputs = [name for name, _, _ in graph_inputs(original)]
    return Extractor(onnx.shape_inference.infer_shapes(original)).extract_model(inputs, [str(info["boxes"]), str(info["scores"])])


def reference_runs(original: onnx.ModelProto, converted: onnx.ModelProto, seed: int = 0,
                   dims: Optional[Dict[str, int]] = None,
                   sample: Optional[np.ndarray] = None) -> Runs:
    """Feeds (in the original's dtypes) and the original's outputs, for each feed kind."""
    ref = reference_model(original, converted)
    runs = OrderedDict()
    for kind in FEED_KINDS:
        feeds = make_feeds(original, kind, seed, dims, sample)
        runs[kind] = (feeds, run_model(ref, feeds))
    return runs


def save_runs(path: str, runs: Runs) -> None:
    """Write reference runs to an .npz (keys kind::in::name / kind::out::name)."""
    arrays = {}
    for kind, (feeds, outs) in runs.items():
        arrays.update({"%s::in::%s" % (kind, k): v for k, v in feeds.items()})
        arrays.update({"%s::out::%s" % (kind, k): v for k, v in outs.items()})
    np.savez_compressed(path, **arrays)


def load_runs(path: str) -> Runs:
    """Reference runs saved by save_runs."""
    runs = OrderedDict()  # type: Runs
    with np.load(path) as data:
        for key in data.files:
            kind, side, name = key.split("::", 2)
            feeds, outs = runs.setdefault(kind, (OrderedDict(), OrderedDict()))
            (feeds if side == "in" else outs)[name] = data[key]
    return runs


def diff(got: np.ndarray, ref: np.ndarray) -> Tuple[float, float]:
    """(max abs difference, max abs difference / max |ref|) of two same-shape arrays."""
    if got.shape != ref.shape:
        raise ModelError("output shape %s differs from the original's %s" % (got.shape, ref.shape))
    a, b = got.astype(np.float64), ref.astype(np.float64)
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return max_abs, (max_abs / scale if scale > 0 else max_abs)


def compare(converted, runs: Runs, rtol: float, atol: float) -> List[Comparison]:
    """Run the converted model (path or ModelProto) on the reference feeds and diff outputs.

    An output passes when max_abs <= atol + rtol * max|ref| (max_rel <= rtol, roughly)."""
    model = onnx.load(converted) if isinstance(converted, str) else converted
    in_types = {name: dtype for name, _, dtype in graph_inputs(model)}
    rows = []
    for kind, (feeds, ref_out) in runs.items():
        cast = {k: v.astype(in_types[k]) for k, v in feeds.items()}
        got = run_model(model, cast)
        for name, ref in ref_out.items():
            if name not in got:
                raise ModelError("converted model has no output %r" % name)
            max_abs, max_rel = diff(got[name], ref)
            scale = float(np.max(np.abs(ref))) if ref.size else 0.0
            rows.append(Comparison(kind, name, tuple(ref.shape), max_abs, max_rel,
                                   max_abs <= atol + rtol * scale))
    return rows


def format_rows(rows: Sequence[Comparison]) -> str:
    """A small fixed-width table of comparisons."""
    lines = ["%-7s %-28s %-18s %12s %12s  %s" % ("feed", "output", "shape", "max_abs", "max_rel", "ok")]
    for r in rows:
        lines.append("%-7s %-28s %-18s %12.3g %12.3g  %s" % (
            r.feed, r.output[:28], "x".join(str(d) for d in r.shape), r.max_abs, r.max_rel,
            "yes" if r.ok else "NO"))
    return "\n".join(lines)
