"""Image bytes -> BGR uint8 frames, refusing bad input with ImageDecodeError before decoding.

The header is parsed first (JPEG SOF, PNG IHDR, BMP info header), so a 20000x20000 bomb is
refused without allocating it, and a JPEG without its end-of-image marker is reported as
truncated instead of being decoded into a half-grey picture. Grey, RGBA and 16-bit images
come out as 8-bit BGR. EXIF orientation is ignored: boxes stay in the stored pixel grid.

Fast path: a JPEG much larger than the detector input is decoded DCT-scaled (1/2, 1/4,
1/8 in libjpeg, several times cheaper than a full decode plus a resize); `DecodedFrame`
keeps that picture for the detector and decodes full resolution only when asked (crops).
A JPEG with restart markers (our producer writes them) decodes in strips on several cores
(engines.jpeg_strips).
"""
import struct
from collections import namedtuple
from typing import Any, Optional

import numpy as np

from alpr import defaults
from alpr.errors import FrameDecodeError, ImageDecodeError

#: most pixels we agree to decode (alias of alpr.defaults.MAX_IMAGE_PIXELS)
MAX_IMAGE_PIXELS = defaults.MAX_IMAGE_PIXELS

ImageInfo = namedtuple("ImageInfo", "kind width height")

_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = set(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def probe(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageInfo:
    """Format and size from the header alone; ImageDecodeError for anything we won't decode."""
    if data is None or len(data) == 0:
        raise ImageDecodeError("empty image (0 bytes)")
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    head = bytes(data[:32])
    if head[:2] == b"\xff\xd8":
        info = _probe_jpeg(data)
    elif head[:8] == _PNG_SIGNATURE:
        info = _probe_png(head)
    elif head[:2] == b"BM" and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        info = ImageInfo("bmp", width, abs(height))
    else:
        raise ImageDecodeError("unsupported image format (not JPEG, PNG or BMP; %d bytes)"
                               % len(data))
    if info.width < 1 or info.height < 1:
        raise ImageDecodeError("%s header gives an empty %dx%d image"
                               % (info.kind, info.width, info.height))
    if info.width * info.height > max_pixels:
        raise ImageDecodeError("%s of %dx%d pixels is larger than the %d MP limit"
                               % (info.kind, info.width, info.height, max_pixels // 1000000))
    return info


def decode(data: bytes, reduce: int = 1, info: Optional[ImageInfo] = None,
           strips: Optional[Any] = None) -> np.ndarray:
    """Decode to an HxWx3 uint8 BGR array; `reduce` in (1, 2, 4, 8) DCT-scales a JPEG;
    `strips` (an engines.jpeg_strips.StripDecoder) decodes a JPEG with restart markers on
    several cores."""
    import cv2

    info = info or probe(data)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}
    if reduce not in flags:
        raise ValueError("reduce must be 1, 2, 4 or 8, not %r" % (reduce,))
    if info.kind != "jpeg":
        reduce = 1  # only libjpeg scales in the DCT; elsewhere it would be a slow resize
    image = None
    if strips is not None and info.kind == "jpeg":
        image = strips.decode(data, flags[reduce] | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is not None:
        return image
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buf, flags[reduce] | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise ImageDecodeError("cannot decode %s: %s" % (info.kind, str(exc).strip())) from exc
    if image is None:
        raise ImageDecodeError("cannot decode %s of %d bytes (corrupt or truncated)"
                               % (info.kind, len(data)))
    if image.ndim == 2:  # defensive: IMREAD_COLOR already expands grey
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.dtype != np.uint8:  # defensive: IMREAD_COLOR already scales 16-bit to 8-bit
        image = (image >> 8).astype(np.uint8)
    return image


def reduction_for(height: int, width: int, in_h: int, in_w: int) -> int:
    """Largest DCT scale (1, 2, 4, 8) that keeps the frame at least as big as the detector
    needs, i.e. the detector's letterbox still shrinks (never enlarges) the reduced frame."""
    ratio = min(in_h / float(height), in_w / float(width))
    for factor in (8, 4, 2):
        if factor * ratio <= 1.0:
            return factor
    return 1


class DecodedFrame(object):
    """One image's bytes, its picture for the detector (maybe DCT-reduced) and, lazily, the
    full-resolution picture for crops. Coordinates are always full-resolution pixels."""

    def __init__(self, data: bytes, reduce: int = 1, info: Optional[ImageInfo] = None,
                 strips: Optional[Any] = None) -> None:
        self.data = data
        self.strips = strips
        self.info = info or probe(data)
        self.width, self.height = self.info.width, self.info.height
        self.reduce = reduce if self.info.kind == "jpeg" else 1
        self.image = decode(data, self.reduce, self.info, strips)
        self._full = self.image if self.reduce == 1 else None  # type: Optional[np.ndarray]
        if self.reduce == 1:  # the header may disagree with a decoder's output; trust pixels
            self.height, self.width = self.image.shape[:2]

    @property
    def scale(self) -> float:
        """Full-resolution pixels per pixel of `image` (horizontal)."""
        return self.width / float(self.image.shape[1])

    def full(self) -> np.ndarray:
        """The full-resolution picture (decoded on first use)."""
        if self._full is None:
            self._full = decode(self.data, 1, self.info, self.strips)
        return self._full

    @property
    def has_full(self) -> bool:
        return self._full is not None


#: the detector's input made with the decode (read-ahead): for `roi`, and what it cost
DetectorInput = namedtuple("DetectorInput", "roi feeds context offset scale ms")


class Decoded(object):
    """The decode stage's outcome: a DecodedFrame and its ms, or the error for bad bytes."""

    __slots__ = ("frame", "ms", "error", "ahead")

    def __init__(self, frame: Any, ms: float, error: Optional[FrameDecodeError]) -> None:
        self.frame, self.ms, self.error = frame, ms, error
        self.ahead = None  # type: Optional[DetectorInput]


class ArrayFrame(object):
    """An already-decoded frame with the DecodedFrame interface the stages use."""

    has_full = True

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.height, self.width = image.shape[:2]

    def full(self) -> np.ndarray:
        return self.image


def _probe_png(head: bytes) -> ImageInfo:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageDecodeError("PNG without an IHDR header (truncated?)")
    width, height = struct.unpack(">II", head[16:24])
    return ImageInfo("png", width, height)


def _probe_jpeg(data: bytes) -> ImageInfo:
    """Walk JPEG segments up to the first scan: size from SOFn, then require an EOI after it."""
    n = len(data)
    pos = 2
    width = height = None
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageDecodeError("corrupt JPEG: no marker at byte %d" % pos)
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_NO_LENGTH:
            if marker == 0xD9:
                break
            continue
        if pos + 2 > n:
            break
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            raise ImageDecodeError("corrupt JPEG: segment length %d at byte %d" % (length, pos))
        if marker in _JPEG_SOF:
            if pos + 7 > n:
                break
            height = (data[pos + 3] << 8) | data[pos + 4]
            width = (data[pos + 5] << 8) | data[pos + 6]
        if marker == 0xDA:  # start of scan: entropy-coded data follows until EOI
            if width is None:
                raise ImageDecodeError("corrupt JPEG: scan before any frame header")
            if data.rfind(b"\xff\xd9", pos + length) < 0:  # from the end: O(1) when whole
                raise ImageDecodeError("truncated JPEG: no end-of-image marker after the scan "
                                       "(%d bytes)" % n)
            return ImageInfo("jpeg", width, height)
        pos += length
    raise ImageDecodeError("truncated JPEG: header ends before the first scan (%d bytes)" % n)
