"""Plain value types passed between adapters, the pipeline and the worker."""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Detection:
    """One plate box in frame pixels: x1, y1, x2, y2, detector score, class id."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    cls: int = 0

    @property
    def box(self) -> Tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class TextRead:
    """What an OCR adapter read from one crop."""

    text: str
    confidence: float  # overall: the minimum per-character confidence
    char_confidences: Tuple[float, ...] = ()
    region: str = ""  # e.g. "br", "us", "eu", when the model predicts one


@dataclass(frozen=True)
class PlateRead:
    """One plate read in a frame: text, confidences, region, box, detector score."""

    text: str
    confidence: float
    char_confidences: Tuple[float, ...]
    region: str
    box: Tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels
    det_score: float
    raw_text: str = ""  # the OCR's text before post-processing
    country: str = ""  # ISO code when the matched format or a read EU band names it
    format: str = ""  # the plate format the text fits ("" = fits none in force: as read)

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["char_confidences"] = [round(float(c), 4) for c in self.char_confidences]
        out["box"] = [int(v) for v in self.box]
        out["confidence"] = round(float(self.confidence), 4)
        out["det_score"] = round(float(self.det_score), 4)
        return out


@dataclass
class FrameResult:
    """All reads of one frame plus per-stage timings in milliseconds."""

    reads: List[PlateRead] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)
    width: int = 0
    height: int = 0
    error: Optional[str] = None  # set when the frame could not be processed
    evidence: Optional[Dict[str, Any]] = None  # engines.evidence.make_evidence's, when made


def to_frame(det: Detection, offset: Tuple[float, float], scale: float,
             width: int, height: int) -> Detection:
    """A detection in a view (offset, scale: the view's origin and pixel size in the frame)
    in frame pixels, clipped to the frame."""
    if offset == (0.0, 0.0) and scale == 1.0:
        return det
    ox, oy = offset
    x1 = min(max(det.x1 * scale + ox, 0.0), width)
    x2 = min(max(det.x2 * scale + ox, 0.0), width)
    y1 = min(max(det.y1 * scale + oy, 0.0), height)
    y2 = min(max(det.y2 * scale + oy, 0.0), height)
    return Detection(x1, y1, x2, y2, det.score, det.cls)
