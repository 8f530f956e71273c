"""Plate reader from a line locator and a line recogniser (the default OCR).

A plate box is widened by a margin (detector boxes often clip the first or last
character), then:
- a crop as wide as a one-line plate (`one_line_aspect`: EU plates are 4.7:1, Mercosul
  cars 3.1:1; US plates 2:1 and motorcycle plates are taller) is read whole;
- any other crop goes to the text-line locator, and its plate rows (`plate_lines`) are
  read box by box, joined left to right and top to bottom. No text found: read whole.
All lines of a frame go to the recogniser together (one batch per width bucket).
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from alpr import defaults
from engines.adapters.base import Box, Recognizer
from engines.adapters.ctc_ocr import CtcOcr
from engines.adapters.text_lines import TextLineLocator, plate_lines
from engines.runtime import Runtime
from engines.types import TextRead

MARGIN_X = 0.06  # of the box width, each side
MARGIN_Y = 0.12  # of the box height, each side
ONE_LINE_ASPECT = defaults.OCR_ONE_LINE_ASPECT

#: (plate crop, its lines) for one plate: lines are crops of the plate crop
PlateLines = Tuple[np.ndarray, List[np.ndarray]]


class PlateOcr(Recognizer):
    """Locate a plate's text lines (when it may hold more than one), read them, join."""

    def __init__(self, recogniser: CtcOcr, locator: Optional[TextLineLocator],
                 one_line_aspect: float = ONE_LINE_ASPECT, margin_x: float = MARGIN_X,
                 margin_y: float = MARGIN_Y) -> None:
        self.recogniser = recogniser
        self.locator = locator
        self.one_line_aspect = float(one_line_aspect)
        self.margin_x, self.margin_y = float(margin_x), float(margin_y)
        self.min_crop_width = 0
        self.located = 0  # plates that went through the locator (for benches)
        self.plates = 0

    @property
    def runtimes(self) -> List[Runtime]:
        extra = [self.locator.runtime] if self.locator is not None else []
        return list(self.recogniser.runtimes) + extra

    def prepare(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> List[np.ndarray]:
        h, w = image_bgr.shape[:2]
        crops = []
        for x1, y1, x2, y2 in boxes:
            mx, my = (x2 - x1) * self.margin_x, (y2 - y1) * self.margin_y
            cx1, cx2 = int(max(0, x1 - mx)), int(min(w, np.ceil(x2 + mx)))
            cy1, cy2 = int(max(0, y1 - my)), int(min(h, np.ceil(y2 + my)))
            crops.append(image_bgr[cy1:cy2, cx1:cx2])
        return crops

    def lines_of(self, plate: np.ndarray) -> List[np.ndarray]:
        """The line crops to read for one plate crop, in reading order."""
        h, w = plate.shape[:2]
        if self.locator is None or h == 0 or w >= self.one_line_aspect * h:
            return [plate]
        self.located += 1
        rows = plate_lines(self.locator.locate(plate), crop_height=h)
        lines = []
        for row in rows:
            for b in row:
                y1, y2 = int(b.y1), int(np.ceil(b.y2))
                x1, x2 = int(b.x1), int(np.ceil(b.x2))
                if y2 > y1 and x2 > x1:
                    lines.append(plate[y1:y2, x1:x2])
        return lines or [plate]

    def infer(self, crops: List[np.ndarray]) -> List[List[TextRead]]:
        per_plate = [self.lines_of(c) if c.size else [] for c in crops]
        self.plates += len(crops)
        flat = [line for lines in per_plate for line in lines]
        reads = self.recogniser.read_lines(flat)
        out, at = [], 0
        for lines in per_plate:
            out.append(reads[at:at + len(lines)])
            at += len(lines)
        return out

    def postprocess(self, raw: List[List[TextRead]]) -> List[TextRead]:
        out = []
        for parts in raw:
            text = "".join(p.text for p in parts)
            confs = tuple(c for p in parts for c in p.char_confidences)
            out.append(TextRead(text, min(confs) if confs else 0.0, confs))
        return out
