"""Evidence for one frame's reads: a small JPEG of each plate crop and, optionally, the frame
at a reduced width; made after the pipeline returns, from the pictures it already decoded.

Crops come from the full-resolution picture when the pipeline decoded it (small plates),
else from the picture the detector saw (DCT-reduced): no decode is ever added for evidence.
"""
from collections import namedtuple
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from alpr import defaults

EvidenceOptions = namedtuple("EvidenceOptions",
                             "crops crop_width crop_quality frame_width frame_quality")
DEFAULT_OPTIONS = EvidenceOptions(True, defaults.EVIDENCE_CROP_WIDTH,
                                  defaults.EVIDENCE_CROP_QUALITY, defaults.EVIDENCE_FRAME_WIDTH,
                                  defaults.EVIDENCE_FRAME_QUALITY)
CROP_PAD = 0.08  # a little margin around the plate box: an operator sees the plate's edge


def options_from(settings: Any) -> EvidenceOptions:
    return EvidenceOptions(bool(settings.evidence_crops), int(settings.evidence_crop_width),
                           int(settings.evidence_crop_quality), int(settings.evidence_frame_width),
                           int(settings.evidence_frame_quality))


def make_evidence(frame: Any, reads: Sequence[Any], options: EvidenceOptions = DEFAULT_OPTIONS
                  ) -> Optional[Dict[str, Any]]:
    """{'crops': [JPEG bytes or None per read], 'frame': JPEG bytes or None, 'scale': float}
    for a frame with reads; None when there is nothing to make.

    `frame` is the pipeline's DecodedFrame (``image``, ``width``, ``has_full``, ``full()``) or
    an HxWx3 BGR array; `reads` are PlateReads (``box`` in full-resolution pixels)."""
    if not reads or not (options.crops or options.frame_width > 0):
        return None
    if isinstance(frame, np.ndarray):
        picture, width = frame, frame.shape[1]
        full = frame
    else:
        picture, width = frame.image, frame.width
        full = frame.full() if frame.has_full else None
    out = {"crops": [], "frame": None, "scale": 1.0}  # type: Dict[str, Any]
    if options.crops:
        source = full if full is not None else picture
        scale = source.shape[1] / float(width)
        out["crops"] = [_crop_jpeg(source, read.box, scale, options) for read in reads]
    if options.frame_width > 0:
        snap = _resize_to(picture, options.frame_width)
        out["frame"] = _jpeg(snap, options.frame_quality)
        out["scale"] = snap.shape[1] / float(width)
    return out


def _crop_jpeg(source: np.ndarray, box: Sequence[float], scale: float,
               options: EvidenceOptions) -> Optional[bytes]:
    x1, y1, x2, y2 = [float(v) * scale for v in box]
    pw, ph = (x2 - x1) * CROP_PAD, (y2 - y1) * CROP_PAD
    h, w = source.shape[:2]
    x1, x2 = int(max(0.0, x1 - pw)), int(min(float(w), x2 + pw))
    y1, y2 = int(max(0.0, y1 - ph)), int(min(float(h), y2 + ph))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return _jpeg(_resize_to(source[y1:y2, x1:x2], options.crop_width), options.crop_quality)


def _resize_to(image: np.ndarray, width: int) -> np.ndarray:
    import cv2

    if width <= 0 or image.shape[1] == width:
        return image
    height = max(1, int(round(image.shape[0] * width / float(image.shape[1]))))
    interp = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (int(width), height), interpolation=interp)


def _jpeg(image: np.ndarray, quality: int) -> Optional[bytes]:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image),
                           [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    return buf.tobytes() if ok else None


def attach(record_reads: List[Dict[str, Any]], evidence: Optional[Dict[str, Any]]) -> None:
    """Put each crop into its read's dict (the result record's wire field, alpr.protocol)."""
    if not evidence:
        return
    for read, crop in zip(record_reads, evidence.get("crops") or []):
        if crop:
            read["crop"] = crop
