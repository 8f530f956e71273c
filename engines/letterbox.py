"""CPU letterbox for YOLO detectors: the contract the CUDA pre-processing must match.

Contract (identical to platedet's and open-image-models' own `letterbox`):

* scale ``r = min(in_h / h, in_w / w)`` (up- or down-scaling);
* resized size ``new_w = int(round(w * r))``, ``new_h = int(round(h * r))`` (Python's
  round, half to even), resized with ``cv2.INTER_LINEAR``;
* padding ``pad_w = (in_w - new_w) / 2``, ``pad_h = (in_h - new_h) / 2`` (floats); the
  image is placed at ``top = int(round(pad_h - 0.1))``, ``left = int(round(pad_w - 0.1))``
  and every other pixel is ``fill`` (114) in all channels;
* output ``[1, 3, in_h, in_w]`` RGB (BGR input is swapped), value ``u8 / 255`` computed in
  float32 then cast to the requested dtype (so a pad pixel is 114/255);
* boxes map back with ``x = (x_model - pad_w) / r`` (the float pads, as the references do).

Letterboxer re-does platedet's recipe into preallocated buffers for speed: 1.0-1.6x the
obvious cv2/numpy way (engines.preprocess_cpu.letterbox_reference) on a 1080p frame into 640x640
(2.3-3.7 ms vs 2.7-5.0 ms, three runs of `python -m bench.reimpl` on a loaded 2-core box);
tests/engines/test_letterbox.py checks it equals platedet's preprocessing exactly.
"""
from collections import namedtuple
from typing import Optional, Tuple

import numpy as np

from alpr import defaults
from alpr.errors import FrameDecodeError

#: where the resized frame sits inside the detector input, and the scale used
LetterboxParams = namedtuple("LetterboxParams", "ratio new_w new_h pad_w pad_h left top")


def letterbox_params(h: int, w: int, in_h: int, in_w: int) -> LetterboxParams:
    """Scale, resized size and padding for an h x w frame letterboxed into in_h x in_w."""
    if h < 1 or w < 1:
        raise FrameDecodeError("cannot letterbox an empty %dx%d frame" % (w, h))
    r = min(in_h / float(h), in_w / float(w))
    new_w, new_h = int(round(w * r)), int(round(h * r))
    new_w, new_h = max(1, min(in_w, new_w)), max(1, min(in_h, new_h))
    pad_w, pad_h = (in_w - new_w) / 2.0, (in_h - new_h) / 2.0
    left, top = int(round(pad_w - 0.1)), int(round(pad_h - 0.1))
    return LetterboxParams(r, new_w, new_h, pad_w, pad_h, left, top)


def unit_lut(dtype: "np.dtype") -> np.ndarray:
    """u8 -> u8/255 (computed in float32, then cast to dtype): the normalisation table."""
    return (np.arange(256, dtype=np.float32) / np.float32(255.0)).astype(dtype)


class Letterboxer(object):
    """Letterbox into preallocated buffers: resize straight into the padded canvas, split it
    into planes, then one cv2.LUT per plane (u8 -> u8/255 table, written straight into the
    output plane) does BGR->RGB, HWC->CHW and /255; ~3x cheaper than numpy's strided take."""

    def __init__(self, in_h: int, in_w: int, dtype: "np.dtype" = np.float32,
                 fill: int = defaults.LETTERBOX_FILL, swap_rb: bool = True) -> None:
        self.in_h, self.in_w = int(in_h), int(in_w)
        self.fill = int(fill)
        self.swap_rb = swap_rb
        self.dtype = np.dtype(dtype)
        self._lut = unit_lut(self.dtype)
        # cv2.LUT fills 8/16/32/64-bit tables; float16 goes through as its uint16 bit pattern
        self._view = _LUT_VIEWS.get(self.dtype.str[1:])
        self._cv_lut = self._lut.view(self._view) if self._view is not None else None
        self._canvas = np.full((self.in_h, self.in_w, 3), self.fill, dtype=np.uint8)
        self._placed = None  # type: Optional[Tuple[int, int, int, int]]
        self._out_ref = None  # type: Optional[np.ndarray]  # last `out`, padding written
        self._out_placed = None  # type: Optional[Tuple[int, int, int, int]]

    def __call__(self, image_bgr: np.ndarray,
                 out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, LetterboxParams]:
        """Detector input [1, 3, in_h, in_w] of `dtype`, and the geometry to map boxes back.

        Without `out` a fresh array is returned (callers may keep it); with `out` (shape
        [1, 3, in_h, in_w], this dtype) it is filled in place and returned. Passing the same
        `out` again with the same frame size rewrites only the picture rows: its padding
        must not be changed by anyone else in between.
        """
        import cv2

        frame = check_bgr(image_bgr)
        p = letterbox_params(frame.shape[0], frame.shape[1], self.in_h, self.in_w)
        placed = (p.top, p.left, p.new_h, p.new_w)
        if placed != self._placed:
            self._canvas[...] = self.fill  # a new frame geometry: old picture pixels become pad
            self._placed = placed
        region = self._canvas[p.top:p.top + p.new_h, p.left:p.left + p.new_w]
        if frame.shape[0] == p.new_h and frame.shape[1] == p.new_w:
            region[...] = frame
        else:
            cv2.resize(frame, (p.new_w, p.new_h), dst=region, interpolation=cv2.INTER_LINEAR)
        rows = slice(0, self.in_h)
        if out is None:
            out = np.empty((1, 3, self.in_h, self.in_w), dtype=self.dtype)
        elif out is self._out_ref and placed == self._out_placed:
            rows = slice(p.top, p.top + p.new_h)  # the padding in `out` is already written
        order = (2, 1, 0) if self.swap_rb else (0, 1, 2)
        if self._cv_lut is not None and out.flags.c_contiguous:
            planes = cv2.split(self._canvas[rows])
            for plane, channel in enumerate(order):
                cv2.LUT(planes[channel], self._cv_lut, dst=out[0, plane, rows].view(self._view))
        else:
            for plane, channel in enumerate(order):
                np.take(self._lut, self._canvas[rows, :, channel], out=out[0, plane, rows])
        self._out_ref, self._out_placed = out, placed
        return out, p


#: output dtype -> the same-size type cv2.LUT writes (table and output are viewed as it)
_LUT_VIEWS = {"f2": np.uint16, "f4": np.float32, "f8": np.float64}


def letterbox_cpu(image_bgr: np.ndarray, in_h: int, in_w: int, out: Optional[np.ndarray] = None,
                  dtype: "np.dtype" = np.float32, fill: int = defaults.LETTERBOX_FILL,
                  swap_rb: bool = True) -> Tuple[np.ndarray, LetterboxParams]:
    """One-shot letterbox (see the module contract); `Letterboxer` reuses its buffers."""
    return Letterboxer(in_h, in_w, dtype=dtype, fill=fill, swap_rb=swap_rb)(image_bgr, out=out)


def boxes_to_frame(boxes: np.ndarray, p: LetterboxParams, h: int, w: int) -> np.ndarray:
    """Map model-space x1, y1, x2, y2 boxes back to an h x w frame and clip them to it."""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    out[:, [0, 2]] = ((out[:, [0, 2]] - p.pad_w) / p.ratio).clip(0, w)
    out[:, [1, 3]] = ((out[:, [1, 3]] - p.pad_h) / p.ratio).clip(0, h)
    return out


def check_bgr(frame: np.ndarray) -> np.ndarray:
    """The frame as an HxWx3 uint8 array, or FrameDecodeError saying what is wrong."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise FrameDecodeError("expected an HxWx3 uint8 BGR frame, got %s %s"
                               % (frame.dtype, frame.shape))
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise FrameDecodeError("empty frame %s" % (frame.shape,))
    return frame
