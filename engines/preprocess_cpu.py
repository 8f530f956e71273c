"""CPU pre-processing with OpenCV/numpy: the plain reference the CUDA kernels must match.

Letterbox follows platedet's documented preprocessing (cv2.resize INTER_LINEAR to
round(w*r) x round(h*r), pad 114 with top=int(round(pad_h-0.1)), left=int(round(pad_w-0.1)),
then RGB, /255, CHW float32), written the obvious way as an independent check of both the
kernels and engines.letterbox (the pipeline's fast CPU path, whose geometry is shared).
Crops are resized with INTER_LINEAR as well.
"""
from typing import Sequence, Tuple

import numpy as np

from alpr import defaults
from engines.letterbox import LetterboxParams as Letterbox  # one geometry for every path
from engines.letterbox import check_bgr, letterbox_params

#: platerec's encoder normalisation (ImageNet mean/std on RGB in 0..1)
ENCODER_MEAN = (0.485, 0.456, 0.406)
ENCODER_STD = (0.229, 0.224, 0.225)


def check_frame(frame: np.ndarray) -> np.ndarray:
    """A C-contiguous HxWx3 uint8 frame, or FrameDecodeError saying what is wrong."""
    return np.ascontiguousarray(check_bgr(frame))


def letterbox_geometry(src_h: int, src_w: int, in_h: int, in_w: int) -> Letterbox:
    """Resized size and padding of an src_h x src_w frame letterboxed into in_h x in_w."""
    return letterbox_params(src_h, src_w, in_h, in_w)


def letterbox_reference(image_bgr: np.ndarray, in_h: int, in_w: int,
                  fill: int = defaults.LETTERBOX_FILL,
                  swap_rb: bool = True) -> Tuple[np.ndarray, Letterbox]:
    """Detector input [1, 3, in_h, in_w] float32 in 0..1 (RGB unless swap_rb is False)."""
    import cv2

    frame = check_frame(image_bgr)
    geo = letterbox_geometry(frame.shape[0], frame.shape[1], in_h, in_w)
    resized = cv2.resize(frame, (geo.new_w, geo.new_h), interpolation=cv2.INTER_LINEAR)
    out = np.full((in_h, in_w, 3), fill, dtype=np.uint8)
    out[geo.top:geo.top + geo.new_h, geo.left:geo.left + geo.new_w] = resized
    if swap_rb:
        out = out[:, :, ::-1]
    chw = np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32) / 255.0
    return chw[None], geo


def clamp_boxes(boxes: Sequence[Sequence[float]], src_h: int, src_w: int) -> np.ndarray:
    """Integer [n, 4] x1, y1, x2, y2 boxes inside the frame, each at least 1 px wide and high."""
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty(arr.shape, dtype=np.int32)
    out[:, 0] = np.clip(np.floor(arr[:, 0]), 0, src_w - 1)
    out[:, 1] = np.clip(np.floor(arr[:, 1]), 0, src_h - 1)
    out[:, 2] = np.clip(np.ceil(arr[:, 2]), out[:, 0] + 1, src_w)
    out[:, 3] = np.clip(np.ceil(arr[:, 3]), out[:, 1] + 1, src_h)
    return out


def crops_u8_cpu(image_bgr: np.ndarray, boxes: Sequence[Sequence[float]], out_h: int, out_w: int,
                 grey: bool = False, swap_rb: bool = True) -> np.ndarray:
    """Slot-OCR input: uint8 [n, out_h, out_w, 1 or 3] (grey, or RGB unless swap_rb is False)."""
    import cv2

    frame = check_frame(image_bgr)
    ints = clamp_boxes(boxes, frame.shape[0], frame.shape[1])
    out = np.empty((len(ints), out_h, out_w, 1 if grey else 3), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(ints):
        crop = cv2.resize(frame[y1:y2, x1:x2], (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        if grey:
            out[i, :, :, 0] = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        else:
            out[i] = crop[:, :, ::-1] if swap_rb else crop
    return out


def crops_normalized_cpu(image_bgr: np.ndarray, boxes: Sequence[Sequence[float]],
                         out_h: int = 224, out_w: int = 224,
                         mean: Sequence[float] = ENCODER_MEAN, std: Sequence[float] = ENCODER_STD,
                         swap_rb: bool = True) -> np.ndarray:
    """Encoder-OCR input: float32 [n, 3, out_h, out_w], (rgb/255 - mean) / std per channel."""
    rgb = crops_u8_cpu(image_bgr, boxes, out_h, out_w, grey=False, swap_rb=swap_rb)
    scaled = rgb.astype(np.float32) / 255.0
    norm = (scaled - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(norm.transpose(0, 3, 1, 2))
