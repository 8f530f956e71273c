"""Text-line locator (PP-OCR's DB text detector) and the choice of a plate's text lines.

The detector maps a crop (resized to `height`, width a multiple of 32, ImageNet
normalisation) to a text probability map; DB post-processing as PP-OCR's: pixels over
`thresh`, one box per connected region whose mean probability is at least `box_thresh`,
grown by area x `unclip` / perimeter (the ratio PP-OCR's unclip uses, applied to the
region's rotated rectangle).

`plate_lines` keeps the plate's own characters: the tallest box, boxes at least
`LINE_HEIGHT_RATIO` of its height in its row (overlapping boxes merged), and a second row
of boxes at least `SECOND_ROW_RATIO` of its height stacked above or below it (two-line
plates: Mercosul motorcycles, some US plates). State names, slogans, dealer frames and
EU country codes are smaller and drop out. A tallest box too small to be plate
characters (`MIN_TEXT_SHARE` of the crop) means the locator missed them: no lines.
"""
from collections import namedtuple
from typing import List, Sequence

import numpy as np

from alpr.errors import ModelError
from engines.runtime import Runtime

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
LINE_HEIGHT_RATIO = 0.6  # plate characters vs the tallest text; state names are ~0.3
SECOND_ROW_RATIO = 0.75  # a two-line plate's rows have one character height (Mercosul motorcycles: both 53 mm); a state name under 0.75 of the text is not a row
MIN_TEXT_SHARE = 0.3  # plate characters fill >= ~45 % of a plate's height: a tallest box under 30 % of the crop is not them (read the whole crop)
MIN_BOX_PX = 3  # a region thinner than this (in the map) is noise

#: an axis-aligned text box in the crop's pixels and its mean probability
TextBox = namedtuple("TextBox", "x1 y1 x2 y2 score")


class TextLineLocator(object):
    """DB text detector over one runtime; `locate(crop)` -> TextBoxes in crop pixels."""

    def __init__(self, runtime: Runtime, height: int = 96, thresh: float = 0.3,
                 box_thresh: float = 0.5, unclip: float = 1.6) -> None:
        spec = runtime.inputs[0]
        if len(spec.shape) != 4:
            raise ModelError("text detector input must be [N, 3, H, W]; got %s" % (spec.shape,))
        self.runtime = runtime
        self.input_name = spec.name
        self.output_name = runtime.outputs[0].name
        self.height = int(height)
        self.thresh, self.box_thresh, self.unclip = thresh, box_thresh, unclip
        self.dtype = spec.dtype

    def tensor(self, crop_bgr: np.ndarray) -> np.ndarray:
        import cv2

        h, w = crop_bgr.shape[:2]
        width = max(32, int(round(w * self.height / float(max(h, 1)) / 32.0)) * 32)
        resized = cv2.resize(crop_bgr, (width, self.height), interpolation=cv2.INTER_LINEAR)
        x = (resized.astype(np.float32) * (1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD
        return x.transpose(2, 0, 1)[None].astype(self.dtype, copy=False)

    def locate(self, crop_bgr: np.ndarray) -> List[TextBox]:
        """Text boxes in `crop_bgr`'s pixels, unordered."""
        if crop_bgr.size == 0:
            return []
        x = self.tensor(crop_bgr)
        prob = np.asarray(self.runtime.run({self.input_name: x})[self.output_name],
                          dtype=np.float32)[0, 0]
        sy = crop_bgr.shape[0] / float(prob.shape[0])
        sx = crop_bgr.shape[1] / float(prob.shape[1])
        return [TextBox(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy, b.score)
                for b in self.boxes(prob)]

    def boxes(self, prob: np.ndarray) -> List[TextBox]:
        """DB post-processing of one probability map (boxes in map pixels)."""
        import cv2

        mask = (prob > self.thresh).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        out = []
        h, w = prob.shape
        for label in range(1, count):
            x, y, bw, bh, area = stats[label]
            if min(bw, bh) < MIN_BOX_PX:
                continue
            region = labels[y:y + bh, x:x + bw] == label
            score = float(prob[y:y + bh, x:x + bw][region].mean())
            if score < self.box_thresh:
                continue
            ys, xs = np.nonzero(region)
            points = np.stack([xs + x, ys + y], axis=1).astype(np.float32)
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
            rw, rh = rw + 1.0, rh + 1.0  # pixel extents, not centre distances
            grow = rw * rh * self.unclip / (2.0 * (rw + rh))
            corners = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
            x1, y1 = corners.min(axis=0)
            x2, y2 = corners.max(axis=0)
            out.append(TextBox(max(0.0, float(x1)), max(0.0, float(y1)),
                               min(float(w), float(x2)), min(float(h), float(y2)), score))
        return out


def plate_lines(boxes: Sequence[TextBox], crop_height: float = 0.0,
                ratio: float = LINE_HEIGHT_RATIO) -> List[List[TextBox]]:
    """The plate's text rows, top to bottom, each left to right (empty: none found)."""
    if not boxes:
        return []
    tallest = max(boxes, key=lambda b: b.y2 - b.y1)
    tall = tallest.y2 - tallest.y1
    if crop_height and tall < MIN_TEXT_SHARE * crop_height:
        return []
    big = [b for b in boxes if (b.y2 - b.y1) >= ratio * tall]
    rows = []  # type: List[List[TextBox]]
    for box in sorted(big, key=lambda b: -(b.y2 - b.y1)):
        for row in rows:
            if _same_row(row[0], box):
                row.append(box)
                break
        else:
            rows.append([box])
    main = [r for r in rows if tallest in r][0]
    left, right = min(b.x1 for b in main), max(b.x2 for b in main)
    kept = [main]
    for row in rows:
        if row is main or max(b.y2 - b.y1 for b in row) < SECOND_ROW_RATIO * tall:
            continue
        r_left, r_right = min(b.x1 for b in row), max(b.x2 for b in row)
        overlap = min(right, r_right) - max(left, r_left)
        if overlap > 0.5 * min(right - left, r_right - r_left):  # stacked, not beside
            kept.append(row)
    if len(kept) > 2:  # the main row and the stacked row nearest to it
        centre = (min(b.y1 for b in main) + max(b.y2 for b in main)) / 2.0
        nearest = min(kept[1:], key=lambda r: abs(
            (min(b.y1 for b in r) + max(b.y2 for b in r)) / 2.0 - centre))
        kept = [main, nearest]
    kept = sorted(kept, key=lambda r: min(b.y1 for b in r))
    return [_merged(sorted(row, key=lambda b: b.x1)) for row in kept]


def _merged(row: List[TextBox]) -> List[TextBox]:
    """Boxes of one row, left to right, overlapping ones joined (read once, not twice)."""
    out = [row[0]]
    for b in row[1:]:
        last = out[-1]
        if b.x1 < last.x2:
            out[-1] = TextBox(last.x1, min(last.y1, b.y1), max(last.x2, b.x2),
                              max(last.y2, b.y2), max(last.score, b.score))
        else:
            out.append(b)
    return out


def _same_row(a: TextBox, b: TextBox) -> bool:
    overlap = min(a.y2, b.y2) - max(a.y1, b.y1)
    return overlap > 0.5 * min(a.y2 - a.y1, b.y2 - b.y1)
