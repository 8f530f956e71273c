"""Accuracy beside speed for `alpr bench engines`: the whole pipeline on each runtime reads the
same labelled dev photos (the OpenALPR end-to-end set), so a Nano user sees on first run
whether the FP16 TensorRT engines read what ONNX Runtime reads.

Per runtime: the share of photos whose first read equals the label. Between runtimes: the
share of photos where TensorRT's first read equals ONNX Runtime's, with the first few that
differ named.
"""
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from alpr.errors import AlprError

SHOWN_DIFFERENCES = 5  # disagreements named in the summary; the rest are counted


def first_read(result: Any) -> str:
    """The pipeline's first plate text, normalised like the evaluation scores it ('' = none)."""
    from alpr.plate_formats import normalize_plate

    plates = getattr(result, "plates", None) or []
    return normalize_plate(plates[0].text, region_tokens=True) if plates else ""


def read_photos(settings: Any, paths: List[str]) -> Dict[str, Any]:
    """{photo name: first read} with settings' runtime, or {"error": ...} if it cannot run."""
    from engines.models import build_pipeline

    try:
        pipeline = build_pipeline(settings)
    except (AlprError, OSError, RuntimeError, ValueError) as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}
    reads = OrderedDict()  # type: Dict[str, str]
    try:
        for path in paths:
            with open(path, "rb") as fh:
                reads[os.path.basename(path)] = first_read(pipeline.process_bytes(fh.read()))
    finally:
        for runtime in pipeline.runtimes:
            runtime.close()
    return {"reads": reads}


def compare_reads(settings: Any, runtimes: List[str], images_dir: Optional[str],
                  max_images: int) -> Dict[str, Any]:
    """Reads of the labelled photos on every runtime, scored against the labels and ONNX Runtime."""
    from evaluation.openalpr import read_dataset
    from alpr.plate_formats import normalize_plate

    if not images_dir or not os.path.isdir(images_dir):
        return {"skipped": "no dev images at %s (the shared OpenALPR photos are never copied "
                           "into the repo; give --images DIR)" % images_dir}
    photos = read_dataset(images_dir).images[:max(0, max_images)]
    if not photos:
        return {"skipped": "no labelled photos in %s" % images_dir}
    labels = OrderedDict((os.path.basename(p.path), normalize_plate(p.text, region_tokens=True))
                         for p in photos)
    out = OrderedDict([("images", len(photos)), ("dir", images_dir)])  # type: Dict[str, Any]
    found = OrderedDict()  # type: Dict[str, Dict[str, str]]
    for runtime in runtimes:
        got = read_photos(settings.with_values({"runtime": runtime}), [p.path for p in photos])
        if "error" in got:
            out[runtime] = {"error": got["error"]}
            continue
        found[runtime] = got["reads"]
        correct = sum(got["reads"][name] == want for name, want in labels.items())
        out[runtime] = {"correct": correct, "accuracy": correct / float(len(photos))}
    if "onnxruntime" in found and "tensorrt" in found:
        base, other = found["onnxruntime"], found["tensorrt"]
        differ = [name for name in labels if base[name] != other[name]]
        out["agreement"] = 1.0 - len(differ) / float(len(photos))
        out["differences"] = [{"image": n, "label": labels[n], "onnxruntime": base[n],
                               "tensorrt": other[n]} for n in differ[:SHOWN_DIFFERENCES]]
    return out


def reads_rows(reads: Dict[str, Any]) -> List[List[Any]]:
    """Table rows: ('reads (N photos)', runtime, '', '', 'K/N right[, agree X% with ORT]')."""
    if "skipped" in reads:
        return []
    label = "reads (%d photos)" % reads["images"]
    rows = []
    for runtime in ("onnxruntime", "tensorrt"):
        if runtime not in reads:
            continue
        r = reads[runtime]
        if "error" in r:
            rows.append([label, runtime, None, None, r["error"][:60]])
            continue
        text = "%d/%d right" % (r["correct"], reads["images"])
        if runtime == "tensorrt" and "agreement" in reads:
            text += ", %.0f%% as ORT" % (100.0 * reads["agreement"])
        rows.append([label, runtime, None, None, text])
    return rows
