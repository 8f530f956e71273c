"""`alpr bench ocr DIR`: where the default reader's OCR time goes, stage by stage.

The pipeline runs once over the folder to find the plates (detector, zoomed look); the
plate crops it hands the OCR are kept, and then only the OCR runs over them, `--repeat`
times (the last pass is timed). Each stage is timed around its own call, in this
process's CPU time (`time.process_time`: on a shared machine, time spent waiting for a
core is not counted; run under `taskset -c N` for one core): the line locator's input,
model and DB post-processing, the recogniser's line tensors and model, and the whole OCR
of each plate crop. Settings as everywhere (flags, ALPR_* env, e.g.
ALPR_OCR_LOCATOR_HEIGHT=96). Reads are `alpr eval`'s business, not this command's.
"""
import time
from collections import Counter
from typing import Any, Dict, List, Optional

import click

from alpr.cli_options import build_settings, model_options
from bench.report import emit, ms_median, report_options
from evaluation.openalpr import read_dataset


class StageTimer(object):
    """Wraps bound methods of objects so each call's CPU milliseconds are recorded."""

    def __init__(self) -> None:
        self.ms = {}  # type: Dict[str, List[float]]
        self.on = False

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        inner = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                if self.on:
                    self.ms.setdefault(stage, []).append((time.process_time() - start) * 1000.0)

        setattr(owner, attribute, timed)


def plate_crops(pipeline: Any, paths: List[str], regions: Optional[List[str]]) -> List[Any]:
    """The plate crops the pipeline hands its OCR, per frame, on these image files."""
    ocr = pipeline.ocr
    frames = []  # type: List[Any]
    inner = ocr.prepare

    def prepare(image: Any, boxes: Any) -> Any:
        crops = inner(image, boxes)
        frames.append([c.copy() for c in crops])
        return crops

    ocr.prepare = prepare
    try:
        for path in paths:
            with open(path, "rb") as fh:
                pipeline.process_bytes(fh.read(), regions=regions)
    finally:
        ocr.prepare = inner
    return frames


def run_stages(pipeline: Any, frames: List[Any], repeat: int = 2) -> Dict[str, Any]:
    """Time the OCR alone over the kept crops; medians of the last pass."""
    ocr = pipeline.ocr
    recogniser = getattr(ocr, "recogniser", None)
    locator = getattr(ocr, "locator", None)
    if recogniser is None:
        raise click.ClickException("`alpr bench ocr` times the line-locator reader (--ocr ppocr)")
    timer = StageTimer()
    widths = Counter()  # type: Counter
    line_tensor = recogniser.line_tensor

    def counted(line: Any) -> Any:
        tensor = line_tensor(line)
        widths[int(tensor.shape[-1])] += 1
        return tensor

    recogniser.line_tensor = counted
    timer.wrap(recogniser, "line_tensor", "rec_tensor")
    timer.wrap(recogniser.runtime, "run", "rec_model")
    if locator is not None:
        timer.wrap(locator, "tensor", "loc_tensor")
        timer.wrap(locator.runtime, "run", "loc_model")
        timer.wrap(locator, "boxes", "loc_post")
    per_plate = []  # type: List[float]
    for rep in range(max(1, repeat)):
        timer.on = rep == repeat - 1
        widths.clear()
        for crops in frames:
            if not crops:
                continue
            start = time.process_time()
            ocr.postprocess(ocr.infer(crops))
            if timer.on:
                per_plate.append((time.process_time() - start) * 1000.0 / len(crops))
    stages = {k: {"calls": len(v), "median_ms": round(ms_median(v), 3)}
              for k, v in sorted(timer.ms.items())}
    return {"plates": sum(len(c) for c in frames), "frames": len(frames),
            "ocr_ms_per_plate": round(ms_median(per_plate), 3) if per_plate else None,
            "stages": stages, "line_widths": dict(sorted(widths.items()))}


@click.command("ocr")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@model_options
@click.option("--repeat", type=int, default=2, show_default=True,
              help="OCR passes over the kept crops (the last one is timed).")
@report_options
def ocr_cmd(directory: str, repeat: int, as_json: bool, plot_path: Optional[str],
            config_file: Optional[str], **flags: Any) -> None:
    """Per-stage CPU time of the OCR on the plates the pipeline finds in DIR (a region folder:
    its formats are in force, as in `alpr eval`)."""
    import os

    from alpr.plate_formats import default_catalog
    from engines.models import build_pipeline

    dataset = read_dataset(directory)
    paths = [image.path for image in dataset.images]
    if not paths:
        raise click.ClickException("no labelled images under %s" % directory)
    region = os.path.basename(os.path.normpath(directory))
    override = flags.pop("regions", None)
    regions = ([r for r in override.split(",") if r not in ("", "none")] if override is not None
               else [region] if region in default_catalog().names() else [])
    settings = build_settings(config_file, **flags)
    pipeline = build_pipeline(settings)
    try:
        summary = run_stages(pipeline, plate_crops(pipeline, paths, regions), repeat)
    finally:
        pipeline.close()
    summary["directory"] = directory
    summary["locator_height"] = settings.ocr_locator_height
    rows = [[name, s["calls"], s["median_ms"]] for name, s in summary["stages"].items()]
    rows.append(["OCR per plate", summary["plates"], summary["ocr_ms_per_plate"]])
    emit(summary, ["stage", "calls", "median CPU ms"], rows, as_json,
         title="OCR stages on %s (%d plates)" % (directory, summary["plates"]),
         notes=["recogniser line widths: %s" % summary["line_widths"]])
