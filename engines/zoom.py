"""The detector's second look: overlapping zoomed tiles of a frame where it found nothing.

A plate under ~60 px wide in a letterboxed 1280 x 720 frame scores under the detector's
threshold; the same plate in a tile of 2/3 of the frame, enlarged 1.5x by the letterbox,
usually scores well above it. The tiles are looked at in grey: platedet learnt white
Mercosul plates, and a yellow (Alaska, New York, UK rear), blue or tinted plate that it
misses in colour often scores as a plate in luminance alone. Only frames with no plate
pay for the tiles (4 more detector runs); `conf` is the tiles' threshold (small plates
score lower at any scale).
"""
from typing import List, Tuple

import numpy as np

from engines.adapters.base import Detector, score_threshold
from engines.types import Detection

TILE_FRACTION = 2.0 / 3.0  # of the frame's side: 2 x 2 tiles overlapping by 1/3
MERGE_IOU = 0.4  # one plate seen in two overlapping tiles is one box


def tile_grid(height: int, width: int, fraction: float = TILE_FRACTION) -> List[Tuple[int, int, int, int]]:
    """(x, y, w, h) of the 2 x 2 tiles covering a height x width picture."""
    th, tw = max(1, int(round(height * fraction))), max(1, int(round(width * fraction)))
    out = []
    for y in sorted(set((0, height - th))):
        for x in sorted(set((0, width - tw))):
            out.append((x, y, tw, th))
    return out


def zoomed_detections(detector: Detector, picture: np.ndarray, conf: float,
                      fraction: float = TILE_FRACTION) -> List[Detection]:
    """Plate boxes (picture pixels, best first) found in zoomed grey tiles, score >= conf."""
    import cv2

    found = []  # type: List[Detection]
    if picture.ndim == 3 and picture.shape[2] == 3:
        picture = cv2.cvtColor(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    with score_threshold(detector, conf):
        for x, y, w, h in tile_grid(picture.shape[0], picture.shape[1], fraction):
            for d in detector.detect(picture[y:y + h, x:x + w]):
                found.append(Detection(d.x1 + x, d.y1 + y, d.x2 + x, d.y2 + y, d.score, d.cls))
    if len(found) < 2:
        return found
    rects = [[d.x1, d.y1, d.x2 - d.x1, d.y2 - d.y1] for d in found]
    keep = cv2.dnn.NMSBoxes(rects, [d.score for d in found], conf, MERGE_IOU)
    kept = [found[int(i)] for i in np.asarray(keep).reshape(-1)]
    return sorted(kept, key=lambda d: -d.score)
