"""CTC line recogniser (the PP-OCR recogniser family): text-line crops -> text.

Pre-processing is PP-OCR's: the BGR crop resized to the model's height (48) keeping its
aspect, (x / 255 - 0.5) / 0.5, right-padded with 0. Widths are rounded up to a bucket
(a multiple of WIDTH_STEP) so lines of one frame share a batch and a TensorRT engine needs
few shapes; a line wider than `max_width` is squeezed to it (CTC needs only
width / 8 >= 2 x characters). The model's output [N, W/8, C] is already a softmax;
decoding is greedy CTC: blank is index 0, repeats collapse, index i > 0 is
`vocabulary[i]` (`classes`: the model's columns of a trimmed vocabulary, when the
full model runs). Per-character confidence is the chosen class's probability.
"""
from typing import List, Optional, Sequence

import numpy as np

from alpr.errors import ModelError
from engines.adapters.base import Box, Recognizer, crop
from engines.runtime import Runtime
from engines.types import TextRead

WIDTH_STEP = 32  # bucket step: PP-OCR's stride is 8; 32 keeps the number of shapes small
MIN_WIDTH = 64  # narrowest model input (short lines are padded)
MAX_WIDTH = 256  # widest: longer lines are squeezed (8-character plates need >= 136)


class CtcOcr(Recognizer):
    """Greedy-CTC recogniser over one runtime; `vocabulary[0]` is the blank."""

    def __init__(self, runtime: Runtime, vocabulary: Sequence[str],
                 max_width: int = MAX_WIDTH, min_width: int = MIN_WIDTH,
                 classes: Optional[Sequence[int]] = None, max_batch: int = 0) -> None:
        self.runtime = runtime
        self.max_batch = int(max_batch)  # 0: any; a TensorRT profile's largest batch
        spec = runtime.inputs[0]
        if len(spec.shape) != 4 or not isinstance(spec.shape[2], int):
            raise ModelError("CTC recogniser input must be [N, 3, H, W] with a fixed H; got %s"
                             % (spec.shape,))
        self.input_name = spec.name
        self.output_name = runtime.outputs[0].name
        self.height = int(spec.shape[2])
        fixed_w = spec.shape[3] if isinstance(spec.shape[3], int) and spec.shape[3] > 0 else None
        self.fixed_width = fixed_w
        self.max_width = int(fixed_w or max_width)
        self.min_width = int(fixed_w or min_width)
        width = runtime.outputs[0].shape[-1]
        self.vocabulary = list(vocabulary)
        if classes is None and isinstance(width, int) and width > 0 \
                and width != len(self.vocabulary):
            raise ModelError("recogniser has %d classes but its vocabulary %d"
                             % (width, len(self.vocabulary)))
        # a full model run for a trimmed vocabulary: the argmax only over these classes
        self.classes = np.asarray(classes, dtype=np.int64) if classes is not None else None
        self.dtype = spec.dtype
        self.min_crop_width = 0

    @property
    def runtimes(self) -> List[Runtime]:
        return [self.runtime]

    def bucket(self, width: int) -> int:
        """The model input width for a line `width` pixels wide at the model's height."""
        if self.fixed_width:
            return self.fixed_width
        w = int(np.ceil(max(width, 1) / float(WIDTH_STEP)) * WIDTH_STEP)
        return max(self.min_width, min(self.max_width, w))

    def line_tensor(self, line_bgr: np.ndarray) -> np.ndarray:
        """One [3, H, bucket] normalised tensor for a BGR line crop."""
        import cv2

        h, w = line_bgr.shape[:2]
        target = max(1, int(round(w * self.height / float(max(h, 1)))))
        width = self.bucket(target)
        target = min(target, width)
        resized = cv2.resize(line_bgr, (target, self.height), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((3, self.height, width), dtype=np.float32)
        out[:, :, :target] = resized.transpose(2, 0, 1) * (2.0 / 255.0) - 1.0
        return out

    def read_lines(self, lines: Sequence[np.ndarray]) -> List[TextRead]:
        """Text of each BGR line crop; lines of one width bucket run as one batch."""
        tensors = [self.line_tensor(line) if line.size else None for line in lines]
        out = [TextRead("", 0.0)] * len(lines)  # type: List[TextRead]
        by_width = {}  # type: dict
        for i, t in enumerate(tensors):
            if t is not None:
                by_width.setdefault(t.shape[2], []).append(i)
        step = self.max_batch if self.max_batch > 0 else len(lines) or 1
        for width in sorted(by_width):
            for at in range(0, len(by_width[width]), step):
                idx = by_width[width][at:at + step]
                batch = np.stack([tensors[i] for i in idx]).astype(self.dtype, copy=False)
                probs = self.runtime.run({self.input_name: batch})[self.output_name]
                for row, i in enumerate(idx):
                    out[i] = self.decode(np.asarray(probs[row], dtype=np.float32))
        return out

    def decode(self, probs: np.ndarray) -> TextRead:
        """Greedy CTC over one [T, C] probability matrix."""
        if self.classes is not None:
            probs = probs[:, self.classes]
        best = probs.argmax(axis=1)
        conf = probs[np.arange(len(best)), best]
        chars, confs = [], []
        last = 0
        for index, p in zip(best.tolist(), conf.tolist()):
            if index != 0 and index != last and index < len(self.vocabulary):
                chars.append(self.vocabulary[index])
                confs.append(float(p))
            last = index
        return TextRead("".join(chars), min(confs) if confs else 0.0, tuple(confs))

    # -- the Recognizer contract: each box read as one line ---------------------------
    def prepare(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> List[np.ndarray]:
        return [crop(image_bgr, box) for box in boxes]

    def infer(self, batch: List[np.ndarray]) -> List[TextRead]:
        return self.read_lines(batch)

    def postprocess(self, raw: List[TextRead]) -> List[TextRead]:
        return list(raw)

