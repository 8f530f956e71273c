"""Check and time the GPU pre-processing kernels against the CPU path (`alpr bench preprocess`).

Runs on a machine with a CUDA GPU: for each usable backend (pycuda, cupy) it compares the
kernels with the OpenCV reference on random frames from 640x480 to 3840x2160, then times a
1080p frame (CPU path, GPU host-to-host, GPU kernel alone) against the bytes-moved floor.
Writes results.json and results.md to --out. Run: python -m bench.gpu_preprocess --out DIR
"""
import json
import os
import platform
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import click
import numpy as np

from engines.preprocess_cpu import (crops_normalized_cpu, crops_u8_cpu, letterbox_reference,
                                    ENCODER_STD)
from engines.preprocess_cuda import CudaPreprocessor, cuda_backend_available

DET_SIZE = 640  # platedet's input
OCR_U8 = (64, 128)  # a typical slot-OCR input (h, w)
ENC_SIZE = 224  # platerec's encoder input


def random_frames(count: int, seed: int) -> List[np.ndarray]:
    """`count` random BGR frames, the first 640x480, the last 3840x2160, the rest in between."""
    rng = np.random.RandomState(seed)
    sizes = [(480, 640)] + [(int(rng.randint(480, 2161)), int(rng.randint(640, 3841)))
                            for _ in range(max(0, count - 2))] + [(2160, 3840)]
    return [rng.randint(0, 256, (h, w, 3)).astype(np.uint8) for h, w in sizes[:count]]


def random_boxes(rng: np.random.RandomState, h: int, w: int, n: int) -> np.ndarray:
    """n plate-like boxes (float, some partly outside the frame) in an h x w frame."""
    bw = rng.uniform(20, max(21, w / 4.0), n)
    bh = bw * rng.uniform(0.2, 0.6, n)
    x1 = rng.uniform(-10, w - 10, n)
    y1 = rng.uniform(-10, h - 10, n)
    return np.stack([x1, y1, x1 + bw, y1 + bh], axis=1)


def check_backend(pre: CudaPreprocessor, frames: List[np.ndarray], seed: int) -> Dict[str, Any]:
    """Worst differences over all frames, in 0..255 levels, for each output."""
    rng = np.random.RandomState(seed + 1)
    worst = {"letterbox": 0.0, "crops_rgb_u8": 0.0, "crops_grey_u8": 0.0, "crops_norm": 0.0}
    extra = _engines_letterbox()
    if extra is not None:
        worst["letterbox_vs_engines_letterbox"] = 0.0
    for frame in frames:
        h, w = frame.shape[:2]
        _poison(pre, "det", 3 * DET_SIZE * DET_SIZE * 4)  # NaN: any unwritten element shows
        got, geo = pre.letterbox(frame, DET_SIZE, DET_SIZE)
        ref, ref_geo = letterbox_reference(frame, DET_SIZE, DET_SIZE)
        assert geo == ref_geo, (geo, ref_geo)
        assert np.isfinite(got).all()
        worst["letterbox"] = max(worst["letterbox"], float(np.abs(got - ref).max()) * 255)
        if extra is not None:
            other = np.asarray(extra(frame, DET_SIZE, DET_SIZE)[0], np.float32).reshape(got.shape)
            worst["letterbox_vs_engines_letterbox"] = max(
                worst["letterbox_vs_engines_letterbox"], float(np.abs(got - other).max()) * 255)
        boxes = random_boxes(rng, h, w, int(rng.randint(1, 9)))
        for grey, key in ((False, "crops_rgb_u8"), (True, "crops_grey_u8")):
            got_u8 = pre.crops_u8(frame, boxes, OCR_U8[0], OCR_U8[1], grey=grey).astype(np.int16)
            ref_u8 = crops_u8_cpu(frame, boxes, OCR_U8[0], OCR_U8[1], grey=grey).astype(np.int16)
            worst[key] = max(worst[key], float(np.abs(got_u8 - ref_u8).max()))
        _poison(pre, "ocr_f32", len(boxes) * 3 * ENC_SIZE * ENC_SIZE * 4)
        got_n = pre.crops_normalized(frame, boxes, ENC_SIZE, ENC_SIZE)
        assert np.isfinite(got_n).all()
        ref_n = crops_normalized_cpu(frame, boxes, ENC_SIZE, ENC_SIZE)
        levels = np.abs(got_n - ref_n) * (np.asarray(ENCODER_STD, np.float32)[None, :, None, None] * 255)
        worst["crops_norm"] = max(worst["crops_norm"], float(levels.max()))
    return worst


def _poison(pre: CudaPreprocessor, name: str, nbytes: int) -> None:
    """Fill device buffer `name` with 0xFF bytes (float32 NaN) before a kernel writes it."""
    if pre.zero_copy:  # results are written straight into mapped host memory
        pre._pinned(name, (nbytes // 4,), np.float32)[...] = np.nan
        return
    ptr = pre._buffer(name, nbytes)
    if pre.backend == "cupy":
        import cupy

        cupy.cuda.runtime.memset(ptr, 0xFF, nbytes)
    else:
        import pycuda.driver as cuda

        cuda.memset_d8(ptr, 0xFF, nbytes)


def _engines_letterbox() -> Optional[Callable]:
    """The engines helper's letterbox_cpu, if that module exists yet (compared too)."""
    try:
        from engines.letterbox import letterbox_cpu as other
    except ImportError:
        return None
    return other


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 5) -> float:
    """Median wall time of fn() in ms (fn must synchronize itself)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def kernel_ms(pre: CudaPreprocessor, frame: np.ndarray, repeats: int, batch: int = 50) -> float:
    """Device time of one letterbox kernel, frame already uploaded: `batch` launches back to
    back between two CUDA events (keeps the GPU busy and clocked up), median over batches."""
    src = pre.upload(frame)
    dst = pre._buffer("det", 3 * DET_SIZE * DET_SIZE * 4)
    h, w = frame.shape[:2]
    launch = lambda: pre.launch_letterbox(src, h, w, DET_SIZE, DET_SIZE, dst)  # noqa: E731
    start, stop, elapsed = _events(pre)
    for _ in range(batch):
        launch()
    times = []
    for _ in range(max(3, repeats // batch * 4)):
        start.record(pre.stream)
        for _ in range(batch):
            launch()
        stop.record(pre.stream)
        stop.synchronize()
        times.append(elapsed(start, stop) / batch)
    return statistics.median(times)


def upload_ms(pre: CudaPreprocessor, frame: np.ndarray, repeats: int) -> float:
    """Wall ms of frame -> pinned staging -> device, synchronized (the host-side share)."""
    def once() -> None:
        pre.upload(frame)
        pre._gpu.synchronize()
    return median_ms(once, repeats)


def _events(pre: CudaPreprocessor) -> Tuple[Any, Any, Callable[[Any, Any], float]]:
    if pre.backend == "cupy":
        import cupy

        return (cupy.cuda.Event(), cupy.cuda.Event(),
                lambda a, b: cupy.cuda.get_elapsed_time(a, b))
    import pycuda.driver as cuda

    return cuda.Event(), cuda.Event(), lambda a, b: b.time_since(a)


def bandwidths() -> Dict[str, float]:
    """Device-to-device (read+write) and pinned host-to-device bandwidth in GB/s, via CuPy."""
    try:
        import cupy
    except ImportError:
        return {}
    n = 1 << 30
    a, b = cupy.empty(n, cupy.uint8), cupy.empty(n, cupy.uint8)
    a.fill(1)
    host = cupy.cuda.alloc_pinned_memory(64 << 20)
    dev = cupy.empty(64 << 20, cupy.uint8)
    stream = cupy.cuda.Stream()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()

    def timed(fn: Callable[[], Any], reps: int) -> float:
        fn()
        start.record(stream)
        for _ in range(reps):
            fn()
        stop.record(stream)
        stop.synchronize()
        return cupy.cuda.get_elapsed_time(start, stop) / reps / 1000.0

    with stream:
        d2d = timed(lambda: b.__setitem__(Ellipsis, a), 10)
        h2d = timed(lambda: cupy.cuda.runtime.memcpyAsync(dev.data.ptr, host.ptr, 64 << 20, 1,
                                                         stream.ptr), 20)
    return {"d2d_gbs": 2 * n / d2d / 1e9, "h2d_pinned_gbs": (64 << 20) / h2d / 1e9}


def _one_thread(fn: Callable[[], float]) -> float:
    """fn() with OpenCV on one thread (closer to a Nano core's share of the frame budget)."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return fn()
    finally:
        cv2.setNumThreads(threads)


def gpu_info() -> Dict[str, str]:
    info = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["cuda_runtime"] = str(cupy.cuda.runtime.runtimeGetVersion())
        info["cupy"] = cupy.__version__
    except Exception:  # cupy absent: pycuda alone
        pass
    try:
        import pycuda

        info["pycuda"] = pycuda.VERSION_TEXT
    except ImportError:
        info["pycuda"] = "absent"
    import cv2

    info["opencv"] = cv2.__version__
    return info


def _bench_backend(name: str, zero_copy: bool, frames: List[np.ndarray], hd: np.ndarray,
                   boxes: np.ndarray, repeats: int, seed: int) -> Dict[str, Any]:
    """Differences over the random frames and 1080p timings for one backend and mode."""
    with CudaPreprocessor(name, zero_copy=zero_copy) as pre:
        entry = {"max_diff_levels": check_backend(pre, frames, seed)}  # type: Dict[str, Any]
        entry["gpu_1080p_ms"] = {
            "letterbox_host_to_host": median_ms(
                lambda: pre.letterbox(hd, DET_SIZE, DET_SIZE), repeats),
            "letterbox_kernel_only": kernel_ms(pre, hd, repeats),
            "upload_frame_pinned": upload_ms(pre, hd, repeats),
            "crops_norm_4_host_to_host": median_ms(lambda: pre.crops_normalized(hd, boxes),
                                                   repeats),
        }
        return entry


def run_bench(frames_n: int, repeats: int, seed: int, backends: List[str]) -> Dict[str, Any]:
    """Correctness over random frames and 1080p timings for every usable backend."""
    frames = random_frames(frames_n, seed)
    hd = np.random.RandomState(seed + 7).randint(0, 256, (1080, 1920, 3)).astype(np.uint8)
    boxes = random_boxes(np.random.RandomState(seed + 9), 1080, 1920, 4)
    result = {"info": gpu_info(), "frames": [list(f.shape) for f in frames], "backends": {},
              "bandwidth": bandwidths()}  # type: Dict[str, Any]
    result["cpu_1080p_ms"] = {
        "letterbox": median_ms(lambda: letterbox_reference(hd, DET_SIZE, DET_SIZE), repeats // 4 or 1),
        "letterbox_1_thread": _one_thread(lambda: median_ms(
            lambda: letterbox_reference(hd, DET_SIZE, DET_SIZE), repeats // 4 or 1)),
        "crops_norm_4": median_ms(lambda: crops_normalized_cpu(hd, boxes), repeats // 4 or 1),
    }
    try:  # the pipeline's own CPU path (buffers reused), if the engines helper's module exists
        from engines.letterbox import Letterboxer

        fast = Letterboxer(DET_SIZE, DET_SIZE)
        result["cpu_1080p_ms"]["letterbox_pipeline"] = median_ms(lambda: fast(hd), repeats // 4 or 1)
        result["cpu_1080p_ms"]["letterbox_pipeline_1_thread"] = _one_thread(
            lambda: median_ms(lambda: fast(hd), repeats // 4 or 1))
    except ImportError:
        pass
    for name, zero_copy in [(b, z) for b in backends for z in (False, True)]:
        reason = cuda_backend_available(name)
        name_key = name + ("-zero-copy" if zero_copy else "")
        if reason is not None:
            result["backends"][name_key] = {"skipped": reason}
            continue
        try:
            result["backends"][name_key] = _bench_backend(name, zero_copy, frames, hd, boxes,
                                                          repeats, seed)
        except Exception as exc:  # one failing backend must not hide the others' numbers
            result["backends"][name_key] = {"skipped": "failed: %s: %s" % (type(exc).__name__, exc)}
    frame_bytes, out_bytes = 1080 * 1920 * 3, 3 * DET_SIZE * DET_SIZE * 4
    bw = result["bandwidth"]
    if bw:
        result["floor_1080p_ms"] = {
            "kernel_bytes": frame_bytes + out_bytes,
            "kernel": (frame_bytes + out_bytes) / (bw["d2d_gbs"] * 1e9) * 1000.0,
            "h2d_frame_plus_d2h_out": (frame_bytes + out_bytes) / (bw["h2d_pinned_gbs"] * 1e9) * 1000.0,
        }
    return result


def to_markdown(result: Dict[str, Any]) -> str:
    """Short tables of the worst differences and the 1080p times."""
    lines = ["GPU: %s  python %s  opencv %s  pycuda %s  cupy %s" % tuple(
        result["info"].get(k, "?") for k in ("gpu", "python", "opencv", "pycuda", "cupy")), ""]
    lines += ["| backend | output | max diff (0..255 levels) |", "|---|---|---|"]
    for name, entry in sorted(result["backends"].items()):
        if "skipped" in entry:
            lines.append("| %s | skipped | %s |" % (name, entry["skipped"]))
            continue
        for key, value in sorted(entry["max_diff_levels"].items()):
            lines.append("| %s | %s | %.3f |" % (name, key, value))
    lines += ["", "| 1080p frame | ms |", "|---|---|"]
    for key, value in sorted(result["cpu_1080p_ms"].items()):
        lines.append("| cpu %s | %.3f |" % (key, value))
    for name, entry in sorted(result["backends"].items()):
        for key, value in sorted(entry.get("gpu_1080p_ms", {}).items()):
            lines.append("| %s %s | %.4f |" % (name, key, value))
    for key, value in sorted(result.get("floor_1080p_ms", {}).items()):
        lines.append("| floor %s | %s |" % (key, ("%.4f" % value) if key != "kernel_bytes" else value))
    for key, value in sorted(result["bandwidth"].items()):
        lines.append("| measured %s | %.1f |" % (key, value))
    return "\n".join(lines) + "\n"


@click.command("preprocess")
@click.option("--frames", "frames_n", default=20, show_default=True, help="Random frames checked.")
@click.option("--repeats", default=200, show_default=True, help="Timed runs per measurement.")
@click.option("--seed", default=0, show_default=True)
@click.option("--backend", "backends", multiple=True, default=("pycuda", "cupy"), show_default=True)
@click.option("--out", "out_dir", default=None, help="Folder for results.json and results.md.")
def preprocess_cmd(frames_n: int, repeats: int, seed: int, backends: Tuple[str, ...],
                   out_dir: Optional[str]) -> None:
    """GPU pre-processing kernels vs the CPU path: max differences and 1080p timings."""
    result = run_bench(frames_n, repeats, seed, list(backends))
    text = to_markdown(result)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "results.json"), "w") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
        with open(os.path.join(out_dir, "results.md"), "w") as fh:
            fh.write(text)
    click.echo(text)


if __name__ == "__main__":  # pragma: no cover
    preprocess_cmd()
