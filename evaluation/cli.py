"""`alpr eval DIR`: score a labelled folder (`alpr scenes` makes one: evaluation.scenes_cli)."""
import json
import time
from typing import Any, Dict, List, Optional, Tuple

import click

from alpr import defaults
from alpr.cli_options import build_settings, model_options
from alpr.errors import AlprError
from evaluation.openalpr import read_dataset
from evaluation.score import Scorer

MAX_MISSES_SHOWN = 40  # the human table lists at most this many misses; --json has all


def _stderr_bar(items: List[Any], label: str) -> Any:
    from alpr.terminal import progress_items  # rich at a terminal, click's bar otherwise

    return progress_items(items, label)


def read_image_file(pipeline: Any, path: str, regions: Optional[List[str]] = None
                    ) -> Tuple[List[Tuple[str, Any]], Dict[str, float], Optional[str]]:
    """Run the pipeline on one image file: (reads as (text, box), timings, error or None)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        result = pipeline.process_bytes(data, regions=regions)
    except (AlprError, OSError) as exc:  # one bad file is a scored miss, not a crash
        return [], {}, "%s: %s" % (type(exc).__name__, exc)
    reads = [(r.text, r.box) for r in result.reads]
    return reads, dict(result.timings), result.error


def format_summary(summary: Dict[str, Any]) -> str:
    """The human table of an eval summary: totals (and per region), stage medians, misses."""
    lines = ["%-8s %7s %9s %8s %7s %8s %8s %8s %8s" % (
        "region", "plates", "detected", "recall", "exact", "rate", "located", "suspect",
        "ocr_ms")]

    def row(name: str, t: Dict[str, Any]) -> str:
        ocr = t.get("ocr_ms_per_plate")
        return "%-8s %7d %9d %7.1f%% %7d %7.1f%% %8d %8d %8s" % (
            name, t["plates"], t["detected"], 100 * t["detection_recall"], t["exact"],
            100 * t["exact_rate"], t.get("exact_located", 0),
            t.get("suspected_label_errors", 0), "-" if ocr is None else "%.1f" % ocr)

    for region, totals in sorted(summary.get("by_region", {}).items()):
        lines.append(row(region, totals))
    lines.append(row("all", summary))
    if summary.get("errors"):
        lines.append("frames with errors: %d" % summary["errors"])
    stages = summary.get("median_ms", {})
    if stages:
        lines.append("median ms: " + "  ".join("%s=%.1f" % kv for kv in sorted(stages.items())))
    if summary.get("confusions"):
        lines.append("confusions (label->read): " + "  ".join(
            "%s->%s x%d" % tuple(c) for c in summary["confusions"]))
    misses = summary.get("misses", [])
    if misses:
        lines.append("misses (%d):" % len(misses))
        for miss in misses[:MAX_MISSES_SHOWN]:
            why = "error: %s" % miss["error"] if miss.get("error") else (
                "not detected" if not miss["detected"] else (
                    "suspected label error" if miss.get("suspected_label_error") else "misread"))
            lines.append("  %-28s %-10s -> %-14s (%s)" % (
                miss["region"] + "/" + miss["image"], miss["label"],
                ",".join(miss["reads"]) or "-", why))
        if len(misses) > MAX_MISSES_SHOWN:
            lines.append("  ... %d more (see --json)" % (len(misses) - MAX_MISSES_SHOWN))
    return "\n".join(lines)


class LabelCheck(object):
    """Is a missed label itself suspect? It fits no specific format of its region as
    written, while a read of the frame does and differs from it only by look-alikes
    (the OpenALPR labels mix up O and 0 in places)."""

    def __init__(self, catalog: Any, regions_for: Any) -> None:
        self.catalog, self.regions_for = catalog, regions_for

    def __call__(self, region: str, label: str, reads: List[str]) -> bool:
        from alpr.plate_formats import DIGIT_TO_LETTER, LETTER_TO_DIGIT, normalize_plate

        book = self.catalog.book(self.regions_for(region))
        want = normalize_plate(label)
        if book.empty or _fits_specific(book, want):
            return False
        alike = set(DIGIT_TO_LETTER.items()) | set(LETTER_TO_DIGIT.items())
        for read in reads:
            got = normalize_plate(read)
            if got != want and len(got) == len(want) and _fits_specific(book, got) and all(
                    a == b or (a, b) in alike for a, b in zip(want, got)):
                return True
        return False


def _fits_specific(book: Any, text: str) -> bool:
    return any(f.specific and f.fit(text) == (text, 0) for f in book.formats)


@click.command("eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@model_options
@click.option("--folders", default="", help="Comma-separated region folders to keep (DIR of regions).")
@click.option("--limit", type=int, default=0, help="Score only the first N images (0 = all).")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object on the last line.")
def eval_cmd(directory: str, folders: str, limit: int, as_json: bool,
             config_file: Optional[str], **flags: Any) -> None:
    """Score the pipeline on an OpenALPR-format folder (a region folder or a folder of them).

    Each region folder is read with that region's plate formats in force (br, eu, us...;
    --plate-regions LIST overrides, --plate-regions none scores raw reads). Reports per
    region: detection recall (IoU >= 0.3 with the labelled box), exact (any read on the
    frame equals the label), exact_located (the read on the labelled box does), the most
    frequent character confusions, suspected label errors, and OCR ms per plate.
    """
    from alpr.plate_formats import default_catalog
    from engines.models import build_pipeline

    dataset = read_dataset(directory, [r for r in folders.split(",") if r])
    for problem in dataset.problems:
        click.echo("warning: %s" % problem, err=True)
    images = dataset.images[:limit] if limit > 0 else dataset.images
    if not images:
        raise click.ClickException("no labelled images under %s" % directory)
    override = flags.pop("regions", None)
    settings = build_settings(config_file, **flags)
    catalog = default_catalog()
    known = set(catalog.names())

    def regions_for(folder: str) -> List[str]:
        if override is not None:
            return [r.strip() for r in override.split(",") if r.strip() not in ("", "none")]
        return [folder] if folder in known else []

    try:
        if override is not None:
            catalog.resolve(regions_for(""))
        pipeline = build_pipeline(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    except AlprError as exc:
        raise click.ClickException(str(exc))
    scorer = Scorer(defaults.EVAL_IOU, LabelCheck(catalog, regions_for))
    start = time.perf_counter()
    try:
        with _stderr_bar(images, "eval") as bar:
            for image in bar:
                reads, timings, error = read_image_file(pipeline, image.path,
                                                        regions_for(image.region))
                scorer.add(image, reads, timings, error)
    finally:
        pipeline.close()
    summary = scorer.summary()
    summary["elapsed_s"] = round(time.perf_counter() - start, 3)
    summary["label_problems"] = dataset.problems
    summary["detector"], summary["ocr"] = settings.detector, settings.ocr
    summary["plate_regions"] = {r: regions_for(r) for r in sorted(set(i.region for i in images))}
    click.echo(format_summary(summary))
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
