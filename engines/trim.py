"""A cached copy of an ONNX model that computes only the outputs its adapter reads.

platedet is a YOLO seg model: beside its [1, 37, 8400] head it computes [1, 32, 160, 160]
mask prototypes that plate detection never reads. That branch is about a quarter of the
detector's CPU time (154 -> 117 ms per 640x640 frame on this project's 2-core box), and
GPU time too, so the copy every runtime loads (ONNX Runtime, or the TensorRT builder)
leaves it out. The kept outputs are bit-identical (tests/engines/test_trim.py).

The copy is made once into the engine cache with the onnx package (absent: the original
runs, with a log line); a JSON sidecar records what was dropped, so later loads need not
parse the model.
"""
import json
import logging
import os
from typing import List, Sequence, Tuple

from alpr.errors import ModelError
from engines.model_files import sha256_file, write_atomic

log = logging.getLogger(__name__)

#: (name, shape) of each output the copy no longer computes
Dropped = List[Tuple[str, List[object]]]


def only_outputs(path: str, keep: Sequence[int], cache_dir: str) -> Tuple[str, Dropped]:
    """(path of a copy computing only the outputs at indices `keep`, what it dropped).

    Returns (path, []) unchanged when nothing would be dropped, the file is missing, not
    ONNX or unparsable (the runtime then reports it), or onnx is not installed."""
    if not path.lower().endswith(".onnx") or not os.path.isfile(path):
        return path, []
    sha = sha256_file(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    tag = "-".join(str(i) for i in sorted(set(keep)))
    out = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)),
                       "%s-%s.outputs-%s.onnx" % (stem, sha[:12], tag))
    sidecar = out + ".json"
    if os.path.isfile(sidecar):  # the usual start: no onnx import, no parse
        with open(sidecar) as fh:
            record = json.load(fh)
        if record.get("source_sha256") == sha and os.path.isfile(record.get("path", "")):
            return record["path"], [(n, s) for n, s in record["dropped"]]
    try:
        from engines.prepare import convert, rewrite  # both need the onnx package
    except ImportError as exc:
        log.info("onnx not installed (%s): %s runs with all its outputs", exc, path)
        return path, []
    try:
        model = convert.load_model(path)
    except ModelError as exc:
        log.debug("not trimming %s: %s", path, exc)
        return path, []
    outputs = [o.name for o in model.graph.output]
    wanted = [outputs[i] for i in sorted(set(keep)) if 0 <= i < len(outputs)]
    notes = []  # type: List[str]
    dropped = rewrite.keep_outputs(model, wanted, notes)
    shapes = [(v.name, [d.dim_value if d.HasField("dim_value") else d.dim_param
                        for d in v.type.tensor_type.shape.dim]) for v in dropped]
    target = out if dropped else path
    if dropped:
        write_atomic(out, model.SerializeToString())
        log.info("%s: %s (copy %s)", os.path.basename(path), "; ".join(notes), out)
    record = {"source": path, "source_sha256": sha, "path": target, "kept": wanted,
              "dropped": shapes}
    write_atomic(sidecar, json.dumps(record, indent=1).encode("utf-8"))
    return target, shapes
