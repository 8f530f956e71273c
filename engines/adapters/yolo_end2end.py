"""YOLO detector exported end to end (NMS inside the graph): output [N, 7] rows of
batch, x1, y1, x2, y2, class, score in letterboxed input pixels (the open-image-models
`yolo-v9-t-384-license-plates-end2end` contract; [1, N, 7] is accepted too).

Pre-processing is open-image-models' letterbox (the same geometry as engines.letterbox:
RGB, /255, pad 114); boxes map back as (x - pad) / ratio, then are clipped to the frame.
"""
from typing import Any, Dict, List, Optional

import numpy as np

from alpr import defaults
from alpr.errors import ModelError
from engines.adapters.base import LetterboxDetector
from engines.letterbox import boxes_to_frame
from engines.runtime import Runtime
from engines.types import Detection


class YoloEnd2EndDetector(LetterboxDetector):
    """End-to-end YOLO: letterbox in, [N, 7] out, threshold and map back on the host."""

    def __init__(self, runtime: Runtime, conf: float = defaults.DET_CONF,
                 max_det: int = defaults.MAX_PLATES, min_size: float = defaults.MIN_PLATE_PX,
                 classes: Optional[List[int]] = None) -> None:
        super().__init__(runtime)
        self.conf = float(conf)
        self.max_det, self.min_size = int(max_det), float(min_size)
        self.classes = set(classes) if classes else None

    def postprocess(self, outputs: Dict[str, np.ndarray], context: Any) -> List[Detection]:
        pred = np.asarray(outputs[self.output_name], dtype=np.float64)
        if pred.ndim == 3:
            pred = pred.reshape(-1, pred.shape[-1])
        if pred.size == 0:
            return []
        if pred.ndim != 2 or pred.shape[1] < 7:
            raise ModelError("end-to-end YOLO output must be [N, 7]; got %s" % (pred.shape,))
        pred = pred[(pred[:, 0] == 0) & (pred[:, 6] >= self.conf)]  # image 0, above threshold
        if self.classes is not None:
            pred = pred[np.array([int(c) in self.classes for c in pred[:, 5]], dtype=bool)]
        pred = pred[np.argsort(-pred[:, 6], kind="stable")]
        boxes = boxes_to_frame(pred[:, 1:5], context.params, context.height, context.width)
        out = []
        for (x1, y1, x2, y2), row in zip(boxes, pred):
            if x2 - x1 < self.min_size or y2 - y1 < self.min_size:
                continue
            out.append(Detection(float(x1), float(y1), float(x2), float(y2), float(row[6]),
                                 int(row[5])))
            if len(out) >= self.max_det:
                break
        return out
