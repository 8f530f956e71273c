"""`alpr bench pipeline DIR`: our pipeline against platerec's own `detect_read`, same run.

Both read every image of the folder from its JPEG bytes (decode counted for both), with the
same ONNX Runtime thread settings, warm-up excluded, frames interleaved (one reference
call, then one pipeline call) so machine noise hits both alike. Reported: frames/s of each,
exact reads of each, the pipeline's overhead beyond the two models' own inference time,
and `prep_ms`: JPEG decode + detector input prep of a 1080p JPEG made from the set's
largest photo (median; the set's own frames are reported too, as `prep_ms_set`).
Our pipeline runs two ways, interleaved with the reference chunk by chunk: read-ahead
(Pipeline.process_many: the next frame is decoded while this one is in the models, as the
worker runs under load; the headline) and sequential (process_bytes, one frame at a time).
The overhead of both is measured against the models' own time in the sequential pass.
"""
import gc
import os
import time
from typing import Any, Dict, List, Optional, Sequence

import click

from alpr import defaults
from alpr.cli_options import build_settings, model_options
from bench.evidence_cost import EVIDENCE_TARGET_FRACTION, EvidenceCost
from bench.reference_reader import reference_read, reference_reader
from bench.report import emit, ms_median, plot_bars, report_options
from evaluation.openalpr import LabelledImage, read_dataset
from evaluation.score import Scorer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.normpath(os.path.join(ROOT, defaults.OPENALPR_DIR, "br"))
PREP_STAGES = ("decode", "det_prep")  # what prep_ms counts
PREP_RUNS = 15  # 1080p prep timing: median of this many frames
SPEEDUP_TARGET = 1.1  # issue 2: frames/s vs platerec's detect_read, at equal or better reads
STAGES = ("decode", "det_prep", "det_infer", "det_post", "crop_decode", "ocr_prep", "ocr_infer",
          "ocr_post")


def find_runtimes(obj: Any, depth: int = 4) -> List[Any]:
    """Every engines.runtime.Runtime reachable from the pipeline (its models' own timers)."""
    from engines.runtime import Runtime

    explicit = getattr(obj, "runtimes", None)
    if explicit is not None:
        found = explicit() if callable(explicit) else explicit
        return list(found)
    seen = {}  # type: Dict[int, Any]

    def walk(value: Any, level: int) -> None:
        if isinstance(value, Runtime):
            seen.setdefault(id(value), value)
            return
        if level <= 0 or isinstance(value, (str, bytes, int, float)):
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                walk(item, level - 1)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, level - 1)
        elif hasattr(value, "__dict__"):
            for item in vars(value).values():
                walk(item, level - 1)

    walk(obj, depth)
    return list(seen.values())


def frame_1080p(path: str, quality: int = defaults.JPEG_QUALITY) -> bytes:
    """A 1920x1080 JPEG made from a real photo (the issue's prep_ms reference frame size),
    encoded as `alpr produce` encodes the frames it captures."""
    import cv2

    from alpr.jpeg_encoding import encode_jpeg

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise click.ClickException("cannot read %s" % path)
    h, w = image.shape[:2]
    target = 1920.0 / 1080.0
    if w / float(h) > target:  # centre-crop to 16:9, then resize
        cw = int(h * target)
        image = image[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = int(w / target)
        image = image[(h - ch) // 2:(h - ch) // 2 + ch]
    image = cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    return encode_jpeg(image, quality)  # as producers do


def prep_ms_1080p(pipeline: Any, data: bytes, runs: int = PREP_RUNS) -> Dict[str, Any]:
    """Median decode + detector prep (and full-frame crop decode) of one 1080p JPEG."""
    prep, crop = [], []
    for _ in range(runs):
        t = pipeline.process_bytes(data).timings
        prep.append(sum(float(t.get(s, 0.0)) for s in PREP_STAGES))
        crop.append(float(t.get("crop_decode", 0.0)))
    return {"prep_ms": round(ms_median(prep), 3), "crop_decode_ms": round(ms_median(crop), 3),
            "jpeg_kb": round(len(data) / 1024.0, 1), "runs": runs}


def _fps(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else 0.0


class Pass(object):
    """Wall time, model time and reads of one way of running the pipeline."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.model_ms = 0.0
        self.frames = 0
        self.reads = 0

    def add(self, seconds: float, model_ms: float, results: Sequence[Any]) -> None:
        self.seconds += seconds
        self.model_ms += model_ms
        self.frames += len(results)
        self.reads += sum(len(r.reads) for r in results)

    def summary(self, model_ms_alone: float, ref_fps: Optional[float]) -> Dict[str, Any]:
        """fps, ms per frame, and the overhead beyond the models measured two ways:
        `overhead_fraction` against the models' time in the sequential pass (nothing else
        running: any slowdown of the models by work beside them counts as overhead), and
        `overhead_in_pass` against the models' own timers in this pass."""
        wall_ms = self.seconds * 1000.0
        fps = _fps(self.frames, self.seconds)
        per_frame = wall_ms / self.frames if self.frames else None
        return {"fps": round(fps, 3), "ms_per_frame": round(per_frame, 2) if per_frame else None,
                "speedup": round(fps / ref_fps, 3) if ref_fps else None,
                "overhead_fraction": round(1.0 - model_ms_alone / per_frame, 4)
                if per_frame else None,
                "overhead_in_pass": round((wall_ms - self.model_ms) / wall_ms, 4)
                if wall_ms > 0 else None,
                "model_ms_per_frame": round(self.model_ms / self.frames, 2) if self.frames else None,
                "frames": self.frames, "reads": self.reads}


def _chunks(items: Sequence[Any], size: int) -> List[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]


def run_bench(images: Sequence[LabelledImage], settings: Any, repeat: int = 1, warmup: int = 2,
              reference: bool = True, progress: Optional[Any] = None,
              prep_runs: int = PREP_RUNS, chunk: int = defaults.BATCH_MAX) -> Dict[str, Any]:
    """Time and score the readers on the images; returns the JSON-ready summary.

    Per chunk of `chunk` frames (the worker's micro-batch), in turn: platerec's
    detect_read frame by frame, our pipeline frame by frame (process_bytes: "sequential"),
    and our pipeline with read-ahead (process_many: frame k+1 decoded while frame k is in
    the models, as the worker runs under load: the headline). Interleaving the three per
    chunk lets machine noise hit all alike.
    """
    from engines.models import build_pipeline

    blobs = []
    for image in images:
        with open(image.path, "rb") as fh:
            blobs.append(fh.read())
    pipeline = build_pipeline(settings)
    runtimes = find_runtimes(pipeline)
    regions = plate_regions(images, settings)
    ref = reference_reader(settings) if reference else None
    for data in (blobs * max(1, warmup))[:warmup]:  # allocations and first-call costs
        pipeline.process_bytes(data)
        if ref is not None:
            reference_read(ref, data)
    ours, ahead_score, theirs = (Scorer(defaults.EVAL_IOU), Scorer(defaults.EVAL_IOU),
                                 Scorer(defaults.EVAL_IOU))
    ref_s = 0.0
    seq, ahead = Pass(), Pass()
    stage_ms = {}  # type: Dict[str, List[float]]
    prep = []  # type: List[float]
    evidence = EvidenceCost(settings)
    errors = 0
    pairs = list(zip(images, blobs))

    def model_ms() -> float:
        return sum(r.total_ms for r in runtimes)

    for rep in range(repeat):
        for part in _chunks(pairs, chunk):
            for image, data in part:
                if ref is not None:
                    start = time.perf_counter()
                    ref_reads = reference_read(ref, data)
                    ref_s += time.perf_counter() - start
                    if rep == 0:
                        theirs.add(image, ref_reads)
            results = []
            for image, data in part:
                before, start = model_ms(), time.perf_counter()
                decoded = pipeline.decode(data)  # = process_bytes, with the decode kept
                result = pipeline.process_decoded(decoded, None, start, regions=regions)
                seq.add(time.perf_counter() - start, model_ms() - before, [result])
                evidence.add(decoded, result)
                results.append(result)
                errors += 1 if result.error else 0
                for stage, ms in result.timings.items():
                    stage_ms.setdefault(stage, []).append(float(ms))
                prep.append(sum(float(result.timings.get(s, 0.0)) for s in PREP_STAGES))
                if rep == 0:
                    ours.add(image, [(r.text, r.box) for r in result.reads], result.timings,
                             result.error)
            before, start = model_ms(), time.perf_counter()
            overlapped = list(pipeline.process_many([data for _, data in part], regions))
            ahead.add(time.perf_counter() - start, model_ms() - before, overlapped)
            if rep == 0:
                for (image, _), result in zip(part, overlapped):
                    ahead_score.add(image, [(r.text, r.box) for r in result.reads],
                                    result.timings, result.error)
            if progress is not None:
                progress(len(part))
    # the reference's ONNX Runtime sessions keep their spinning threads busy for seconds
    # after a run (a core the strip decoder would use): gone before prep_ms is timed
    ref = None
    gc.collect()
    biggest = max(images, key=lambda im: os.path.getsize(im.path))
    prep_1080p = prep_ms_1080p(pipeline, frame_1080p(biggest.path), max(1, prep_runs))
    close = getattr(pipeline, "close", None)
    if callable(close):
        close()
    frames = len(images) * repeat
    mine, mine_ahead, ref_summary = ours.summary(), ahead_score.summary(), theirs.summary()
    ref_fps = _fps(frames, ref_s) if reference else None
    model_alone = seq.model_ms / seq.frames if seq.frames else 0.0
    sequential = seq.summary(model_alone, ref_fps)
    headline = ahead.summary(model_alone, ref_fps)
    return {
        "mode": "read-ahead (Pipeline.process_many per %d-frame chunk: the worker under load)"
                % chunk,
        "sequential": sequential,
        "read_ahead": headline,
        "images": len(images),
        "repeat": repeat,
        "frames": frames,
        "fps": headline["fps"],
        "reference_fps": round(ref_fps, 3) if ref_fps else None,
        "speedup": headline["speedup"],
        "overhead_fraction": headline["overhead_fraction"],
        "inference_ms_per_frame": round(model_alone, 2),
        "pipeline_ms_per_frame": headline["ms_per_frame"],
        "reference_ms_per_frame": round(ref_s * 1000.0 / frames, 2) if reference else None,
        "plate_regions": regions,
        "ocr_ms_per_plate": mine["ocr_ms_per_plate"],
        "exact": mine_ahead["exact"],
        "exact_sequential": mine["exact"],
        "reference_exact": ref_summary["exact"] if reference else None,
        "detected": mine_ahead["detected"],
        "reference_detected": ref_summary["detected"] if reference else None,
        "prep_ms": prep_1080p["prep_ms"],
        "prep_1080p": prep_1080p,
        "prep_ms_set": round(ms_median(prep), 3) if prep else None,
        "median_ms": {s: round(ms_median(v), 3) for s, v in sorted(stage_ms.items()) if v},
        # means add up to the per-frame time, so they attribute the overhead stage by stage
        "mean_ms": {s: round(sum(v) / len(v), 3) for s, v in sorted(stage_ms.items()) if v},
        "errors": errors,
        "evidence": evidence.summary(headline["ms_per_frame"]),
        "runtimes": len(runtimes),
        "threads": {"intra_op": settings.intra_op_threads, "inter_op": settings.inter_op_threads},
        "providers": list(settings.providers),
        "misses": [m["image"] for m in mine_ahead["misses"]],
        "reference_misses": [m["image"] for m in ref_summary["misses"]] if reference else None,
    }


def plate_regions(images: Sequence[LabelledImage], settings: Any) -> Optional[List[str]]:
    """The plate formats a camera of these images would configure: their region folder's
    (br, eu, us), as `alpr eval` scores them; mixed or unknown folders: the settings'."""
    from alpr.plate_formats import default_catalog

    if settings.regions:
        return list(settings.regions)
    folders = set(image.region for image in images)
    if len(folders) == 1 and folders <= set(default_catalog().names()):
        return sorted(folders)
    return None


def speed_target_met(s: Dict[str, Any]) -> bool:
    """The issue's speed target: speedup >= 1.1 AND at least the reference's exact reads."""
    if s.get("speedup") is None or s.get("reference_exact") is None:
        return False
    return s["speedup"] >= SPEEDUP_TARGET and s["exact"] >= s["reference_exact"]


def summary_rows(s: Dict[str, Any]) -> List[List[Any]]:
    """Table rows: one per reader, then the derived figures with their targets."""
    seq = s["sequential"]
    rows = [["pipeline, read-ahead", s["fps"], s["pipeline_ms_per_frame"],
             "%d/%d" % (s["exact"], s["images"]), "%d/%d" % (s["detected"], s["images"])],
            ["pipeline, sequential", seq["fps"], seq["ms_per_frame"],
             "%d/%d" % (s["exact_sequential"], s["images"]), ""]]
    if s["reference_fps"] is not None:
        rows.append(["platerec detect_read", s["reference_fps"], s["reference_ms_per_frame"],
                     "%d/%d" % (s["reference_exact"], s["images"]),
                     "%d/%d" % (s["reference_detected"], s["images"])])
    return rows


@click.command("pipeline")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@model_options
@click.option("--repeat", type=int, default=defaults.BENCH_REPEAT, show_default=True,
              help="Passes over the image set.")
@click.option("--warmup", type=int, default=defaults.BENCH_WARMUP, show_default=True,
              help="Untimed frames run first.")
@click.option("--limit", type=int, default=0, help="Use only the first N images (0 = all).")
@click.option("--no-reference", is_flag=True, help="Skip platerec's own detect_read.")
@click.option("--chunk", type=int, default=defaults.BATCH_MAX, show_default=True,
              help="Frames per interleaved chunk (the worker's batch_max).")
@click.option("--prep-runs", type=int, default=PREP_RUNS, show_default=True,
              help="Frames timed for the 1080p prep_ms figure.")
@report_options
def pipeline_cmd(directory: Optional[str], repeat: int, warmup: int, limit: int, no_reference: bool,
                 chunk: int, prep_runs: int, as_json: bool, plot_path: Optional[str],
                 config_file: Optional[str], **flags: Any) -> None:
    """Frames/s and reads of our pipeline vs platerec's own detect_read on DIR (default: br).

    Also the pipeline's overhead beyond the models' own inference time, and prep_ms
    (decode + detector input prep of a 1080p JPEG, median). Targets: speedup >= 1.1 at equal or
    better reads, overhead <= 0.05, prep_ms <= 6 for a 1080p JPEG.
    """
    settings = build_settings(config_file, **flags)  # a bad setting is refused first (exit 2)
    directory = directory or DEFAULT_DIR
    if not os.path.isdir(directory):
        raise click.ClickException("image folder not found: %s" % directory)
    dataset = read_dataset(directory)
    for problem in dataset.problems:
        click.echo("warning: %s" % problem, err=True)
    images = dataset.images[:limit] if limit > 0 else dataset.images
    if not images:
        raise click.ClickException("no labelled images under %s" % directory)
    if repeat < 1:
        raise click.BadParameter("must be at least 1", param_hint="--repeat")
    from alpr.terminal import progress

    with progress(len(images) * repeat, "bench pipeline") as advance:
        summary = run_bench(images, settings, repeat, max(0, warmup), not no_reference, advance,
                            prep_runs, max(1, chunk))
    summary["directory"] = directory
    summary["speed_target_met"] = speed_target_met(summary)
    notes = ["overhead beyond the models' own time (%s ms/frame, sequential pass): %s of the "
             "read-ahead frame time (target <= 0.05)" % (summary["inference_ms_per_frame"],
                                                         summary["overhead_fraction"]),
             "prep_ms (1080p JPEG of %s KB, decode + detector prep, median of %d): %s (target <= 6);"
             " full-res crop decode %s ms; on the set's own frames: %s"
             % (summary["prep_1080p"]["jpeg_kb"], summary["prep_1080p"]["runs"], summary["prep_ms"],
                summary["prep_1080p"]["crop_decode_ms"], summary["prep_ms_set"]),
             "evidence (crops + %d px snapshot, after the pipeline): %s ms/frame = %s of the frame "
             "time (target < %s); crop %s B, snapshot %s B"
             % (summary["evidence"]["options"]["frame_width"], summary["evidence"]["ms_per_frame"],
                summary["evidence"]["fraction_of_frame_time"], EVIDENCE_TARGET_FRACTION,
                summary["evidence"]["crop_bytes_mean"], summary["evidence"]["frame_bytes_mean"]),
             "median ms: " + "  ".join("%s=%.1f" % (k, v) for k, v in summary["median_ms"].items()),
             "mean ms:   " + "  ".join("%s=%.1f" % (k, v) for k, v in summary["mean_ms"].items())]
    seq = summary["sequential"]
    notes.insert(1, "sequential (one frame at a time): fps %s, speedup %s, overhead %s"
                 % (seq["fps"], seq["speedup"], seq["overhead_fraction"]))
    if summary["speedup"] is not None:
        notes.insert(0, "speedup: %.2fx (target >= 1.1 at equal or better reads: %s)"
                     % (summary["speedup"], speed_target_met(summary)))
    if plot_path:
        stages = [s for s in STAGES if s in summary["median_ms"]]
        series = {s: [summary["median_ms"][s], 0.0] for s in stages}
        series["platerec detect_read (mean)"] = [0.0, summary["reference_ms_per_frame"] or 0.0]
        plot_bars(plot_path, "ms per frame: pipeline stages (median) vs reference",
                  ["pipeline", "platerec"], series, ylabel="ms", stacked=True)
        notes.append("plot: %s" % plot_path)
    emit(summary, ["reader", "frames/s", "ms/frame", "exact", "detected"], summary_rows(summary),
         as_json, title="%d images x %d from %s" % (len(images), repeat, directory), notes=notes)
