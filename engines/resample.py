"""Pillow-exact bicubic resize of uint8 images in numpy (no Pillow needed on a node).

platerec was trained and is used with `PIL.Image.resize((224, 224))` (bicubic, antialiased
when shrinking). OpenCV's INTER_CUBIC neither antialiases nor rounds the same way, and that
changes reads, so this module reproduces Pillow's Resample.c: per-axis filter support scaled
by the shrink factor, coefficients normalised then turned into 22-bit fixed point, two
passes each rounded and clipped to uint8. Products and sums stay below 2**53, so float64
matrix products (BLAS) give Pillow's integers exactly.

Pass order: Pillow up to 12 always resizes horizontally first; newer Pillow runs the vertical
pass first when the height shrinks markedly more than the width. `vertical_first` encodes
the rule measured on Pillow 13 for square outputs (h > out_h and 2 w < h + out_w; exact on
every size tried for 224 x 224); `pillow_order="horizontal"` gives the old behaviour.

Kept for exactness where Pillow is not, not for speed: Pillow is 5-8x faster (80x300 crop
to 224x224: 0.6-1.9 ms for Pillow 13 vs 3.4-15 ms here, three runs of `python -m
bench.reimpl` on a loaded 2-core x86 box). The node's pins (requirements-jetson.txt) have no
Pillow, and an older Pillow (8.4, the last for 3.6) orders the passes differently, so this
gives the same pixels on 3.6 and 3.11. Checked against Pillow in tests/engines/test_resample.py
(3.11; the 3.6 venv has no Pillow, so it skips there).
"""
import math
from typing import Dict, Tuple

import numpy as np

_PRECISION_BITS = 32 - 8 - 2
_ONE = float(1 << _PRECISION_BITS)
_HALF = float(1 << (_PRECISION_BITS - 1))
_BICUBIC_A = -0.5
_SUPPORT = 2.0


def _bicubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    a = _BICUBIC_A
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def coefficients(in_size: int, out_size: int) -> np.ndarray:
    """[out_size, in_size] fixed-point weights (as float64 integers) of Pillow's bicubic.

    Vectorised over outputs; taps are summed one after another as Pillow's C loop does,
    so the normalised weights round to the same fixed-point integers."""
    scale = in_size / float(out_size)
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    inv_scale = 1.0 / filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int) truncation
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size)
    taps = xmin[:, None] + np.arange(ksize)[None, :]
    valid = taps < xmax[:, None]
    k = np.where(valid, _bicubic((taps - center[:, None] + 0.5) * inv_scale), 0.0)
    total = np.zeros(out_size, dtype=np.float64)
    for j in range(ksize):  # sequential, like `ww += w`
        total += k[:, j]
    k = np.where(total[:, None] != 0.0, k / np.where(total == 0.0, 1.0, total)[:, None], k)
    # C's (int)(0.5 + v) / (int)(-0.5 + v): round half away from zero, truncating
    fixed = np.where(k < 0, np.ceil(-0.5 + k * _ONE), np.floor(0.5 + k * _ONE))
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.repeat(np.arange(out_size), ksize).reshape(out_size, ksize)
    weights[rows[valid], taps[valid]] = fixed[valid]
    return weights


class PilResizer(object):
    """Pillow-exact bicubic resize to a fixed output size; caches weights per input size."""

    def __init__(self, out_h: int, out_w: int, cache_size: int = 256,
                 pillow_order: str = "auto") -> None:
        if pillow_order not in ("auto", "horizontal"):
            raise ValueError("pillow_order must be 'auto' or 'horizontal'")
        self.out_h, self.out_w = int(out_h), int(out_w)
        self.pillow_order = pillow_order
        self._cache = {}  # type: Dict[Tuple[str, int], np.ndarray]
        self._cache_size = cache_size

    def vertical_first(self, h: int, w: int) -> bool:
        """Whether Pillow (13) runs the vertical pass first for an h x w input."""
        return h > self.out_h and 2 * w < h + self.out_w

    def _weights(self, axis: str, in_size: int, out_size: int) -> np.ndarray:
        key = (axis, in_size)
        w = self._cache.get(key)
        if w is None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            w = self._cache[key] = coefficients(in_size, out_size)
        return w

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """HxWxC (or HxW) uint8 -> out_h x out_w x C uint8, as Pillow's Image.resize does."""
        img = np.asarray(image)
        if img.ndim == 2:
            return self.planar(img[:, :, None])[0]
        return self.planar(img).transpose(1, 2, 0)

    def planar(self, image: np.ndarray) -> np.ndarray:
        """HxWxC uint8 -> C x out_h x out_w uint8 (channel planes, ready for per-plane work)."""
        img = np.asarray(image)
        h, w, c = img.shape
        if h < 1 or w < 1:
            raise ValueError("cannot resize an empty %dx%d image" % (w, h))
        data = img.transpose(2, 0, 1).astype(np.float64)  # [c, h, w], contiguous
        if (h, w) == (self.out_h, self.out_w):
            return data.astype(np.uint8)
        passes = ["x", "y"]
        if self.pillow_order == "auto" and self.vertical_first(h, w):
            passes.reverse()
        for axis in passes:
            rows, cols = data.shape[1], data.shape[2]
            if axis == "x" and w != self.out_w:  # one GEMM: [c * rows, w] @ [w, out_w]
                wx = self._weights("x", w, self.out_w)
                data = np.dot(data.reshape(c * rows, cols), wx.T).reshape(c, rows, self.out_w)
                _round_clip(data)
            elif axis == "y" and h != self.out_h:  # per plane: [out_h, h] @ [h, cols]
                wy = self._weights("y", h, self.out_h)
                out = np.empty((c, self.out_h, cols), dtype=np.float64)
                for plane in range(c):
                    np.dot(wy, data[plane], out=out[plane])
                data = out
                _round_clip(data)
        return data.astype(np.uint8)


def _round_clip(acc: np.ndarray) -> None:
    """In place: Pillow's clip8(ss >> PRECISION_BITS), the half-unit bias added first
    (adding, scaling by a power of two and flooring are exact in float64)."""
    acc += _HALF
    acc *= 1.0 / _ONE
    np.floor(acc, out=acc)
    np.clip(acc, 0, 255, out=acc)


def pil_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """One-shot Pillow-exact bicubic resize (see PilResizer)."""
    return PilResizer(out_h, out_w)(image)
