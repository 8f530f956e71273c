"""YOLO detector with a raw head: [1, 4 + C (+ mask coefficients), N] (YOLOv8/v9, platedet's
seg-style 37 channels: 4 box + 1 class + 32 masks) or [1, N, 5 + C] with objectness (YOLOv5).

Letterbox in (engines.letterbox), candidates above the threshold, host-side NMS with
cv2.dnn.NMSBoxes, boxes mapped back to the frame and clipped. A second output (mask
prototypes) is ignored; engines.trim
leaves it out of the model altogether. `center_nms` reproduces platedet's own post-processing, which hands
centre-x/centre-y/width/height to NMSBoxes as if they were top-left/size rectangles.
"""
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from alpr import defaults
from alpr.errors import ModelError
from engines.adapters.base import LetterboxDetector
from engines.letterbox import boxes_to_frame
from engines.runtime import Runtime
from engines.types import Detection


def masks_of(proto_shapes: List[Any]) -> int:
    """Mask coefficients per box of a seg head, from its prototype output's shape
    [1, masks, H, W] (given, or recorded when engines.trim dropped it); 0 without one."""
    for shape in proto_shapes:
        if len(shape) == 4 and isinstance(shape[1], int) and shape[1] > 0:
            return int(shape[1])
    return 0


class YoloRawDetector(LetterboxDetector):
    """Raw-head YOLO on any runtime: letterbox, threshold, NMS, map back."""

    def __init__(self, runtime: Runtime, conf: float = defaults.DET_CONF,
                 iou: float = defaults.DET_IOU, max_det: int = defaults.MAX_PLATES,
                 min_size: float = defaults.MIN_PLATE_PX, num_masks: Optional[int] = None,
                 objectness: bool = False, center_nms: bool = False,
                 classes: Optional[List[int]] = None,
                 channels_first: Optional[bool] = None) -> None:
        super().__init__(runtime)
        if num_masks is None:  # seg heads: the second output's channel count
            num_masks = masks_of([o.shape for o in runtime.outputs[1:2]])
        self.num_masks = num_masks
        self.objectness = objectness
        self.conf, self.iou = float(conf), float(iou)
        self.max_det, self.min_size = int(max_det), float(min_size)
        self.center_nms = center_nms
        self.channels_first = channels_first
        self.classes = set(classes) if classes else None

    def candidates(self, head: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cx, cy, w, h) boxes, scores and class ids above the threshold, from the raw head."""
        pred = np.asarray(head)
        if pred.ndim == 3:
            pred = pred[0]
        if pred.ndim != 2:
            raise ModelError("raw YOLO head must be [1, C, N] or [1, N, C]; got %s"
                             % (np.asarray(head).shape,))
        extra = 5 if self.objectness else 4
        # YOLOv8/v9 heads are [channels, N]; YOLOv5's (with objectness) are [N, channels]
        channels_first = (not self.objectness) if self.channels_first is None else self.channels_first
        rows = pred.T if channels_first else pred  # -> [N, channels]
        n_cls = rows.shape[1] - extra - self.num_masks
        if n_cls < 1:
            raise ModelError("raw YOLO head with %d channels leaves no class scores "
                             "(%d masks%s)" % (rows.shape[1], self.num_masks,
                                               ", objectness" if self.objectness else ""))
        cls_scores = rows[:, extra:extra + n_cls]
        if self.objectness:
            cls_scores = cls_scores * rows[:, 4:5]
        scores = cls_scores.max(axis=1)
        keep = scores > self.conf
        rows, cls_scores, scores = rows[keep], cls_scores[keep], scores[keep]
        cls_ids = cls_scores.argmax(axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
        if self.classes is not None:
            wanted = np.array([c in self.classes for c in cls_ids], dtype=bool)
            rows, scores, cls_ids = rows[wanted], scores[wanted], cls_ids[wanted]
        return rows[:, :4].astype(np.float64), scores.astype(np.float64), cls_ids

    def postprocess(self, outputs: Dict[str, np.ndarray], context: Any) -> List[Detection]:
        import cv2

        xywh, scores, cls_ids = self.candidates(outputs[self.output_name])
        if len(scores) == 0:
            return []
        if self.center_nms:
            rects = xywh
        else:
            rects = np.c_[xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, 2:]]
        keep = np.array(cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), self.conf,
                                         self.iou), dtype=np.int64).reshape(-1)
        if keep.size == 0:
            return []
        sel = xywh[keep]
        top_left = sel[:, :2] - sel[:, 2:] / 2
        xyxy = np.c_[top_left, sel[:, 2:] + top_left]  # platedet's exact float operations
        boxes = boxes_to_frame(xyxy, context.params, context.height, context.width)
        out = []
        for (x1, y1, x2, y2), s, c in zip(boxes, scores[keep], cls_ids[keep]):
            if x2 - x1 < self.min_size or y2 - y1 < self.min_size:
                continue
            out.append(Detection(float(x1), float(y1), float(x2), float(y2), float(s), int(c)))
            if len(out) >= self.max_det:
                break
        return out
