"""Scoring reads against labels: detection recall, exact-read rate, stage latencies.

Rules (the issue's): a labelled plate is *detected* when a read's box has IoU >= 0.3
with the labelled box; it is read *exactly* when any read on the frame equals the label
after normalisation (alpr.plate_formats.normalize_plate: region tokens like "[br]"
dropped, then letters and digits only, case ignored). The read reported for a plate is the one overlapping its box most (else the
first read), and `exact_located` counts the stricter rule "that overlapping read is
exact", so both figures are visible.
"""
import statistics
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from alpr import defaults
from alpr.plate_formats import normalize_plate
from evaluation.openalpr import Box, LabelledImage

Read = Tuple[str, Sequence[float]]  # (text, (x1, y1, x2, y2))

OCR_STAGES = ("ocr_prep", "ocr_infer", "ocr_post")  # a frame's OCR time, split per plate
TOP_CONFUSIONS = 10  # character confusions listed per region


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when either is empty."""
    a = [float(v) for v in a[:4]]
    b = [float(v) for v in b[:4]]
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = float(ix) * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class PlateScore(object):
    """The verdict on one labelled plate."""

    __slots__ = ("image", "region", "label", "box", "detected", "exact", "exact_located",
                 "read", "best_iou", "reads", "error", "ocr_ms", "suspect")

    def __init__(self, image: str, region: str, label: str, box: Box) -> None:
        self.image = image
        self.region = region
        self.label = label
        self.box = box
        self.detected = False
        self.exact = False
        self.exact_located = False
        self.read = ""  # the read matched to this plate (overlapping one preferred)
        self.best_iou = 0.0
        self.reads = []  # type: List[str]
        self.error = None  # type: Optional[str]
        self.ocr_ms = None  # type: Optional[float]  # OCR ms per plate on its frame
        self.suspect = False  # the label, not the read, looks wrong (see Scorer)

    def to_dict(self) -> Dict[str, Any]:
        return {"image": self.image, "region": self.region, "label": self.label,
                "read": self.read, "reads": list(self.reads), "detected": self.detected,
                "exact": self.exact, "iou": round(self.best_iou, 3), "error": self.error,
                "suspected_label_error": self.suspect}


def score_plate(image: LabelledImage, index: int, reads: Sequence[Read],
                iou_threshold: float = defaults.EVAL_IOU) -> PlateScore:
    """Score the image's `index`-th labelled plate against all reads of the frame."""
    label = image.plates[index]
    result = PlateScore(image.name, image.region, label.text, label.box)
    want = normalize_plate(label.text, region_tokens=True)
    result.reads = [str(text) for text, _ in reads]
    best = None  # type: Optional[Read]
    for text, box in reads:
        overlap = iou(label.box, box)
        if overlap > result.best_iou:
            result.best_iou, best = overlap, (text, box)
    result.detected = result.best_iou >= iou_threshold
    result.exact = any(normalize_plate(text, region_tokens=True) == want for text, _ in reads)
    result.exact_located = bool(result.detected and best is not None
                                and normalize_plate(best[0], region_tokens=True) == want)
    if best is not None and result.detected:
        result.read = str(best[0])
    elif reads:
        result.read = str(reads[0][0])
    return result


class Scorer(object):
    """Accumulates per-image verdicts and stage timings; `summary()` gives the totals."""

    def __init__(self, iou_threshold: float = defaults.EVAL_IOU,
                 suspect: Optional[Callable[[str, str, Sequence[str]], bool]] = None) -> None:
        """`suspect(region, label, reads)`: True when the label itself looks wrong (e.g.
        it fits no plate format of its region, a read does and differs only by
        look-alikes); such plates stay misses and are listed apart."""
        self.iou_threshold = iou_threshold
        self.suspect = suspect
        self.plates = []  # type: List[PlateScore]
        self.images = 0
        self.errors = 0
        self.timings = {}  # type: Dict[str, List[float]]

    def add(self, image: LabelledImage, reads: Sequence[Read],
            timings: Optional[Dict[str, float]] = None,
            error: Optional[str] = None) -> List[PlateScore]:
        """Score one processed image; `error` marks a frame the reader could not process."""
        self.images += 1
        if error:
            self.errors += 1
        for stage, ms in (timings or {}).items():
            self.timings.setdefault(stage, []).append(float(ms))
        verdicts = []
        ocr = sum(float((timings or {}).get(k, 0.0)) for k in OCR_STAGES)
        for index in range(len(image.plates)):
            verdict = score_plate(image, index, reads, self.iou_threshold)
            verdict.error = error
            verdict.ocr_ms = ocr / len(reads) if reads else None
            if self.suspect is not None and not verdict.exact:
                verdict.suspect = bool(self.suspect(image.region, verdict.label,
                                                    verdict.reads))
            verdicts.append(verdict)
        self.plates.extend(verdicts)
        return verdicts

    def median_ms(self) -> Dict[str, float]:
        """Median milliseconds per timed stage over all images."""
        return {stage: round(statistics.median(values), 3)
                for stage, values in sorted(self.timings.items()) if values}

    def summary(self) -> Dict[str, Any]:
        """Totals as one JSON-ready dict (see the module docstring for the rules)."""
        out = _totals(self.plates)
        out["images"] = self.images
        out["errors"] = self.errors
        out["iou_threshold"] = self.iou_threshold
        out["exact_rule"] = "any read on the frame equals the label (normalised)"
        out["median_ms"] = self.median_ms()
        regions = sorted(set(p.region for p in self.plates))
        if len(regions) > 1:
            out["by_region"] = {r: _totals([p for p in self.plates if p.region == r])
                                for r in regions}
        out["misses"] = [p.to_dict() for p in self.plates if not (p.detected and p.exact)]
        out["suspected_labels"] = [p.to_dict() for p in self.plates if p.suspect]
        return out


def _totals(plates: Sequence[PlateScore]) -> Dict[str, Any]:
    n = len(plates)
    detected = sum(1 for p in plates if p.detected)
    exact = sum(1 for p in plates if p.exact)
    located = sum(1 for p in plates if p.exact_located)
    ocr = [p.ocr_ms for p in plates if p.ocr_ms is not None]
    return {
        "plates": n,
        "detected": detected,
        "exact": exact,
        "exact_located": located,
        "detection_recall": round(detected / n, 4) if n else 0.0,
        "exact_rate": round(exact / n, 4) if n else 0.0,
        "suspected_label_errors": sum(1 for p in plates if p.suspect),
        "ocr_ms_per_plate": round(statistics.median(ocr), 3) if ocr else None,
        "confusions": confusions(plates),
    }


def confusions(plates: Sequence[PlateScore], top: int = TOP_CONFUSIONS) -> List[List[Any]]:
    """The most frequent character confusions ["label char", "read char", count] among
    detected misreads of the label's length (the read on the labelled box)."""
    counts = Counter()  # type: Counter
    for p in plates:
        want = normalize_plate(p.label, region_tokens=True)
        got = normalize_plate(p.read, region_tokens=True)
        if p.detected and not p.exact and len(want) == len(got):
            counts.update((a, b) for a, b in zip(want, got) if a != b)
    return [[a, b, n] for (a, b), n in counts.most_common(top)]
