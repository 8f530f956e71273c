"""`alpr bench engines`: ONNX Runtime vs TensorRT per model and end to end, on this node.

Each default model (or --model files) runs on every available runtime with the same random
inputs; end to end times the whole pipeline on one frame when the pipeline builder exists;
then each runtime's pipeline reads the labelled dev photos (bench.engine_reads), so accuracy
(and TensorRT's agreement with ONNX Runtime) shows beside speed. Where TensorRT (or pycuda)
is missing, only ONNX Runtime is measured and the table says why.
"""
import os
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import click
import numpy as np

from alpr import defaults
from alpr.cli_options import build_settings
from alpr.errors import AlprError
from bench.report import emit, ms_median, plot_bars, report_options

SEQ_LEN = 8  # decoder input length used for dynamic "seq" dims (a plate is 7-10 tokens)


def tensorrt_unavailable() -> Optional[str]:
    """None when tensorrt and pycuda import and see a GPU, else the reason (shown in the table)."""
    try:
        from engines.tensorrt.modules import import_cuda, import_tensorrt

        import_tensorrt()
        cuda = import_cuda()
        cuda.init()
        if cuda.Device.count() < 1:
            return "no CUDA device"
    except (AlprError, ImportError) as exc:
        return str(exc)
    except Exception as exc:  # driver errors
        return "CUDA unavailable (%s)" % exc
    return None


def random_feeds(specs: Sequence[Any], seed: int = 0) -> Dict[str, np.ndarray]:
    """One random input per TensorSpec; dynamic dims become 1 (batch) or SEQ_LEN (others)."""
    rng = np.random.RandomState(seed)
    feeds = {}
    for spec in specs:
        shape = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else SEQ_LEN)
                 for i, d in enumerate(spec.shape)]
        if spec.dtype.kind in "iu":
            feeds[spec.name] = rng.randint(0, 10, size=shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.rand(*shape).astype(spec.dtype)
    return feeds


def time_calls(fn: Callable[[], Any], repeat: int, warmup: int) -> Tuple[float, float]:
    """(median, p90) wall ms of fn() after warm-up calls (first calls allocate and autotune)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    ordered = sorted(times)
    return ms_median(times), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def bench_model(path: str, runtime: str, settings: Any, repeat: int, warmup: int) -> Dict[str, Any]:
    """Median/p90 ms of one model on one runtime (errors become a row, not a crash)."""
    from engines.open_runtime import open_runtime, trt_options_from

    options = trt_options_from(settings) if runtime == "tensorrt" else {}
    try:
        with open_runtime(path, runtime, providers=settings.providers,
                          intra_op_threads=settings.intra_op_threads,
                          inter_op_threads=settings.inter_op_threads, **options) as rt:
            feeds = random_feeds(rt.inputs)
            median, p90 = time_calls(lambda: rt.run(feeds), repeat, warmup)
            return {"median_ms": median, "p90_ms": p90, "backend": rt.backend}
    except (AlprError, OSError, RuntimeError, ValueError) as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}


def bench_end_to_end(settings: Any, frame_jpeg: bytes, repeat: int, warmup: int) -> Dict[str, Any]:
    """Median/p90 ms of the whole pipeline on one JPEG frame, on settings.runtime."""
    try:
        from engines.models import build_pipeline
    except ImportError as exc:
        return {"error": "pipeline builder not available (%s)" % exc}
    try:
        pipeline = build_pipeline(settings)
        try:
            median, p90 = time_calls(lambda: pipeline.process_bytes(frame_jpeg), repeat, warmup)
        finally:
            close = getattr(pipeline, "close", None)
            if callable(close):
                close()
        return {"median_ms": median, "p90_ms": p90}
    except (AlprError, OSError, RuntimeError, ValueError) as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}


def sample_frame(path: Optional[str]) -> bytes:
    """JPEG bytes of --image, else a synthetic 1080p frame (timing needs no real plate)."""
    if path:
        with open(path, "rb") as fh:
            return fh.read()
    import cv2

    frame = np.random.RandomState(1).randint(0, 256, (1080, 1920, 3)).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return data.tobytes()


def run_engines_bench(models: Dict[str, str], settings: Any, repeat: int, warmup: int,
                      image: Optional[str], end_to_end: bool = True,
                      images_dir: Optional[str] = None, max_images: int = 0) -> Dict[str, Any]:
    """Every model on every available runtime, then end to end, then the reads of up to
    `max_images` labelled photos per runtime; JSON-ready summary."""
    why_not = tensorrt_unavailable()
    runtimes = ["onnxruntime"] + ([] if why_not else ["tensorrt"])
    results = OrderedDict()  # type: Dict[str, Dict[str, Any]]
    for label, path in models.items():
        results[label] = OrderedDict((rt, bench_model(path, rt, settings, repeat, warmup))
                                     for rt in runtimes)
    if end_to_end:
        frame = sample_frame(image)
        results["end-to-end"] = OrderedDict(
            (rt, bench_end_to_end(settings.with_values({"runtime": rt}), frame, repeat, warmup))
            for rt in runtimes)
    summary = {"runtimes": runtimes, "tensorrt": why_not or "available", "results": results,
               "repeat": repeat, "warmup": warmup}
    if max_images > 0:
        from bench.engine_reads import compare_reads

        summary["reads"] = compare_reads(settings, runtimes, images_dir, max_images)
    return summary


def table_rows(summary: Dict[str, Any]) -> List[List[Any]]:
    """model, runtime, median, p90, speed-up over ONNX Runtime (or the error)."""
    rows = []
    for label, by_rt in summary["results"].items():
        base = by_rt.get("onnxruntime", {}).get("median_ms")
        for rt, r in by_rt.items():
            if "error" in r:
                rows.append([label, rt, None, None, r["error"][:60]])
                continue
            speedup = "%.2fx" % (base / r["median_ms"]) if base and r["median_ms"] else "-"
            rows.append([label, rt, r["median_ms"], r["p90_ms"], speedup])
    return rows


@click.command("engines")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ALPR_CONFIG",
              help="YAML settings file (providers, threads, engine cache).")
@click.option("--model", "model_paths", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="ONNX model(s) to time instead of the default platedet/platerec ones.")
@click.option("--repeat", type=int, default=50, show_default=True, help="Timed runs per row.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed runs first.")
@click.option("--image", type=click.Path(dir_okay=False, exists=True), default=None,
              help="JPEG for the end-to-end row (default: a synthetic 1080p frame).")
@click.option("--no-end-to-end", is_flag=True, help="Only the per-model rows.")
@click.option("--images", "images_dir", default=defaults.OPENALPR_DIR, show_default=True,
              help="Labelled dev photos (OpenALPR layout) each runtime reads, for accuracy.")
@click.option("--max-images", type=int, default=defaults.BENCH_READ_IMAGES, show_default=True,
              help="Photos read per runtime (0: no reads).")
@click.option("--providers", default=None, help="ONNX Runtime providers, comma-separated.")
@report_options
def engines_cmd(config_file: Any, model_paths: Tuple[str, ...], repeat: int, warmup: int,
                image: Optional[str], no_end_to_end: bool, images_dir: str, max_images: int,
                providers: Optional[str], as_json: bool, plot_path: Optional[str]) -> None:
    """ONNX Runtime vs TensorRT per model and end to end on this node (table, --plot PNG)."""
    settings = build_settings(config_file, providers=providers)
    if model_paths:
        models = OrderedDict((os.path.basename(p), p) for p in model_paths)  # type: Dict[str, str]
    else:
        from engines.models_cli import default_model_paths

        models = default_model_paths(settings.engine_cache_dir)
    summary = run_engines_bench(models, settings, max(1, repeat), max(0, warmup), image,
                                end_to_end=not no_end_to_end, images_dir=images_dir,
                                max_images=max_images)
    if plot_path:  # before the table, so a --json object stays the last stdout line
        labels = list(summary["results"])
        series = OrderedDict((rt, [summary["results"][m].get(rt, {}).get("median_ms") or 0.0
                                   for m in labels]) for rt in summary["runtimes"])
        plot_bars(plot_path, "median latency per model (ms)", labels, series, ylabel="ms")
        click.echo("plot written to %s" % plot_path, err=True)
    notes = [] if summary["tensorrt"] == "available" else [
        "TensorRT unavailable here: %s. ONNX Runtime only." % summary["tensorrt"]]
    rows = table_rows(summary)
    reads = summary.get("reads") or {}
    if reads:
        from bench.engine_reads import reads_rows

        rows += reads_rows(reads)
        if "skipped" in reads:
            notes.append("reads skipped: %s" % reads["skipped"])
        for diff in reads.get("differences", []):
            notes.append("  %s (label %s): onnxruntime %r, tensorrt %r" % (
                diff["image"], diff["label"], diff["onnxruntime"], diff["tensorrt"]))
    emit(summary, ["model", "runtime", "median ms", "p90 ms", "vs ORT"], rows,
         as_json=as_json, title="alpr bench engines (repeat %d)" % repeat, notes=notes)
