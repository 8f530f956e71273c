"""Re-implementations against the library they copy: ms per call, best of several runs.

  python -m bench.reimpl [--json]

Each row times our code and the library's on the same input (one core's worth of noise on a
shared box: rerun, the best of each is what the docstrings quote):
* resample: engines.resample.PilResizer vs Pillow's Image.resize (a 80x300 plate crop to
  224x224, platerec's input); skipped where Pillow is not installed (the node);
* letterbox: engines.letterbox.Letterboxer vs engines.preprocess_cpu.letterbox_reference (the
  obvious cv2/numpy way, platedet's recipe) on a 1080p frame into 640x640;
* jpeg_strips: engines.jpeg_strips.StripDecoder (2 strips) vs one cv2.imdecode of a 1080p
  producer JPEG (restart marker per MCU row).
"""
import sys
import timeit
from typing import Any, Callable, Dict, List, Optional, Tuple

import click
import numpy as np

from bench.report import emit, report_options

REPEAT = 7  # timeit runs per case; the best is reported


def _best_ms(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat, number)) / number * 1000.0


def _frame() -> np.ndarray:
    import cv2

    noise = np.random.RandomState(0).randint(0, 256, (1080, 1920, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def cases() -> List[Tuple[str, Callable[[], Any], Optional[Callable[[], Any]]]]:
    """(name, ours, the library's or None when it is not installed)."""
    import cv2

    from alpr.jpeg_encoding import encode_params
    from engines.jpeg_strips import StripDecoder
    from engines.letterbox import Letterboxer
    from engines.preprocess_cpu import letterbox_reference
    from engines.resample import PilResizer

    crop = np.random.RandomState(0).randint(0, 256, (80, 300, 3)).astype(np.uint8)
    resizer = PilResizer(224, 224)
    try:
        from PIL import Image

        pillow = lambda: np.asarray(Image.fromarray(crop).resize((224, 224)))  # noqa: E731
    except ImportError:
        pillow = None
    frame = _frame()
    boxer = Letterboxer(640, 640)
    data = cv2.imencode(".jpg", frame, encode_params(1920, 90))[1].tobytes()
    strips = StripDecoder(2)
    buf = np.frombuffer(data, np.uint8)
    return [("resample", lambda: resizer(crop), pillow),
            ("letterbox", lambda: boxer(frame), lambda: letterbox_reference(frame, 640, 640)),
            ("jpeg_strips", lambda: strips.decode(data, cv2.IMREAD_COLOR),
             lambda: cv2.imdecode(buf, cv2.IMREAD_COLOR))]


@click.command("reimpl")
@report_options
def reimpl_cmd(as_json: bool, plot_path: Optional[str]) -> None:
    """Time each re-implementation against the library it copies."""
    rows, summary = [], {}  # type: List[List[Any]], Dict[str, Any]
    for name, ours, theirs in cases():
        ours_ms = _best_ms(ours)
        lib_ms = _best_ms(theirs) if theirs is not None else None
        gain = round(lib_ms / ours_ms, 2) if lib_ms else None
        rows.append([name, ours_ms, lib_ms, gain])
        summary[name] = {"ours_ms": round(ours_ms, 3),
                         "library_ms": round(lib_ms, 3) if lib_ms else None, "speedup": gain}
    emit(summary, ["case", "ours_ms", "library_ms", "speedup"], rows, as_json,
         title="re-implementations vs the library (best of %d)" % REPEAT)


if __name__ == "__main__":
    sys.exit(reimpl_cmd())
