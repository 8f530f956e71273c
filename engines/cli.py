"""`alpr read IMAGE... [--json]`: run the recognition pipeline on image files."""
import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import click

from alpr.cli_options import build_settings, model_options
from alpr.errors import AlprError, ConfigError


@click.command("read")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@model_options
@click.option("--region", default=None, help="Plate region template to apply (e.g. br).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per image, then a summary object on the last line.")
@click.option("--exact-decode", is_flag=True,
              help="Decode every frame at full resolution (no DCT-scaled fast path).")
def read_cmd(images: Tuple[str, ...], as_json: bool, exact_decode: bool,
             config_file: Optional[str], **flags: Any) -> None:
    """Read the plates in IMAGE files: text, confidence, region, box, detector score."""
    from engines.models import build_pipeline

    flags = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = build_settings(config_file, **flags)
        pipeline = build_pipeline(settings, fast_decode=not exact_decode)
    except ConfigError:  # a bad setting: one line, exit 2 (alpr.cli)
        raise
    except AlprError as exc:
        raise click.ClickException(str(exc))
    totals = {"images": 0, "plates": 0, "errors": 0, "total_ms": 0.0}  # type: Dict[str, Any]
    try:
        for path in images:
            record = read_file(pipeline, path)
            totals["images"] += 1
            totals["plates"] += len(record["reads"])
            totals["errors"] += 1 if record["error"] else 0
            totals["total_ms"] += record["timings"].get("total", 0.0)
            if as_json:
                click.echo(json.dumps(record, sort_keys=True))
            else:
                click.echo(format_record(record))
    finally:
        pipeline.close()
    totals["total_ms"] = round(totals["total_ms"], 3)
    totals["mean_ms"] = round(totals["total_ms"] / max(1, totals["images"]), 3)
    totals["summary"] = True
    if as_json:
        click.echo(json.dumps(totals, sort_keys=True))
    else:
        click.echo("%d image(s), %d plate(s), %d error(s), mean %.1f ms/frame"
                   % (totals["images"], totals["plates"], totals["errors"], totals["mean_ms"]))
    if totals["errors"] and totals["errors"] == totals["images"]:
        sys.exit(1)


def read_file(pipeline: Any, path: str) -> Dict[str, Any]:
    """One image file through the pipeline, as a JSON-ready record."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return {"image": path, "reads": [], "timings": {}, "error": "io: %s" % exc,
                "width": 0, "height": 0}
    result = pipeline.process_bytes(data)
    return {"image": path, "reads": [r.to_dict() for r in result.reads],
            "timings": {k: round(v, 3) for k, v in result.timings.items()},
            "error": result.error, "width": result.width, "height": result.height}


def format_record(record: Dict[str, Any]) -> str:
    """Human lines for one image: a header, then one line per plate."""
    name = os.path.basename(record["image"])
    if record["error"]:
        return "%s: error: %s" % (name, record["error"])
    t = record["timings"]
    lines = ["%s: %d plate(s) in %.1f ms (det %.1f, ocr %.1f)"
             % (name, len(record["reads"]), t.get("total", 0.0), t.get("det_infer", 0.0),
                t.get("ocr_infer", 0.0))]
    for read in record["reads"]:
        lines.append("  %-10s conf %.3f  country %-2s format %-12s box %s  det %.3f"
                     % (read["text"] or "-", read["confidence"], read.get("country") or "-",
                        read.get("format") or "(none: as read)", _box(read["box"]),
                        read["det_score"]))
    return "\n".join(lines)


def _box(box: List[int]) -> str:
    return "%d,%d,%d,%d" % tuple(box)
