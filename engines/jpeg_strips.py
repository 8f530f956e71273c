"""Decode one JPEG on several cores: split it at restart markers into strips.

libjpeg decodes a scan on one core, and its entropy decoding is most of a frame's decode
time even when the DCT scales the picture down. A baseline JPEG whose restart interval
covers whole MCU rows (our producers write one restart marker per MCU row: alpr.jpeg_encoding)
splits at restart markers into horizontal strips that are each a valid JPEG: the same tables and
headers with the strip's height in the frame header, the strip's entropy data, an EOI.
The strips decode in parallel (cv2.imdecode drops the GIL) and are stacked.

Strips start at a restart interval that is a multiple of 8, so their markers already count
RST0, RST1... and no byte of entropy data is rewritten. Pixels equal a whole decode's
except chroma in the rows beside a seam (libjpeg's chroma upsampling sees the strip's
edge), within a few levels. Anything else (no or misaligned restart markers,
progressive or arithmetic coding, several scans) is decoded whole by the caller.

Gain: 1.4-2.7x one cv2.imdecode of a 1080p producer JPEG with 2 strips (10-14 ms vs
18-35 ms, `python -m bench.reimpl`, three runs on a loaded 2-core x86 box; more cores, more
strips); tests/engines/test_jpeg_strips.py checks the pixels against a whole decode.
"""
import struct
from collections import namedtuple
from typing import Any, List, Optional, Tuple

import numpy as np

#: baseline / extended sequential Huffman frame headers: the ones split here
_SOF_SEQUENTIAL = (0xC0, 0xC1)
_SOF_ANY = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = set(range(0xD0, 0xD8)) | {0x01, 0xD8}
MIN_STRIP_ROWS = 4  # MCU rows: thinner strips cost more in thread hand-offs than they save

Layout = namedtuple("Layout", "sof_pos height width mcu_h mcu_rows rows_per_interval scan_pos")


def layout(data: bytes) -> Optional[Layout]:
    """Where a splittable JPEG's frame header and scan are, or None if it cannot be split."""
    n = len(data)
    pos = 2
    sof = None  # type: Optional[Tuple[int, int, int, int, int]]
    interval = 0
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        body = pos + 4
        if marker in _SOF_ANY:
            if marker not in _SOF_SEQUENTIAL or body + 6 > n:
                return None  # progressive, lossless or arithmetic: decode whole
            height, width = struct.unpack(">HH", data[body + 1:body + 5])
            count = data[body + 5]
            factors = [data[body + 6 + 3 * i + 1] for i in range(count) if body + 8 + 3 * i < n]
            if not factors or height < 1 or width < 1:
                return None
            mcu_h = 8 * max(1, max(f & 0x0F for f in factors))
            mcu_w = 8 * max(1, max(f >> 4 for f in factors))
            sof = (body + 1, height, width, mcu_h, mcu_w)
        elif marker == 0xDD and body + 2 <= n:
            interval = struct.unpack(">H", data[body:body + 2])[0]
        elif marker == 0xDA:
            if sof is None or interval <= 0:
                return None
            sof_pos, height, width, mcu_h, mcu_w = sof
            per_row = (width + mcu_w - 1) // mcu_w
            if interval % per_row:
                return None  # intervals that end mid-row cannot make strips
            mcu_rows = (height + mcu_h - 1) // mcu_h
            return Layout(sof_pos, height, width, mcu_h, mcu_rows, interval // per_row,
                          pos + 2 + length)
        pos += 2 + length
    return None


def split(data: bytes, parts: int) -> Optional[List[bytes]]:
    """The JPEG as up to `parts` strip JPEGs (top to bottom), or None if it cannot be split."""
    info = layout(data)
    if info is None or parts < 2:
        return None
    intervals = -(-info.mcu_rows // info.rows_per_interval)
    # strip starts: multiples of 8 intervals, as even as that allows, >= MIN_STRIP_ROWS each
    step = max(8, int(round(intervals / float(parts) / 8.0)) * 8)
    while step * info.rows_per_interval < MIN_STRIP_ROWS:
        step += 8
    starts = list(range(0, intervals, step))[:parts]  # a short remainder joins the last strip
    if len(starts) > 1 and (intervals - starts[-1]) * info.rows_per_interval < MIN_STRIP_ROWS:
        starts.pop()
    if len(starts) < 2:
        return None
    # the marker that ends interval i is RST(i % 8); a strip boundary after interval 8k-1
    # is an RST7, so the boundaries are the (step/8)-th, (2*step/8)-th... RST7 markers
    ends = []  # type: List[int]
    pos = info.scan_pos
    seen = 0
    for start in starts[1:]:
        wanted = start // 8
        while seen < wanted:
            pos = data.find(b"\xff\xd7", pos)
            if pos < 0:
                return None  # fewer markers than the header promises: decode whole
            pos += 2
            seen += 1
        ends.append(pos - 2)
    head = data[:info.scan_pos]
    strips = []
    begin = info.scan_pos
    pixel_row = 0
    for i, start in enumerate(starts):
        rows = (starts[i + 1] - start) * info.rows_per_interval if i + 1 < len(starts) else None
        height = rows * info.mcu_h if rows is not None else info.height - pixel_row
        end = ends[i] if i < len(ends) else _scan_end(data)
        if end is None or end < begin:
            return None
        header = bytearray(head)
        header[info.sof_pos:info.sof_pos + 2] = struct.pack(">H", height)
        strips.append(bytes(header) + data[begin:end] + b"\xff\xd9")
        begin = end + 2
        pixel_row += height
    return strips


def _scan_end(data: bytes) -> Optional[int]:
    """Where the scan's entropy data ends: the EOI (trailing bytes after it ignored)."""
    end = data.rfind(b"\xff\xd9")
    return end if end >= 0 else None


class StripDecoder(object):
    """Decodes splittable JPEGs in `threads` strips at once; whole otherwise (returns None)."""

    def __init__(self, threads: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.threads = int(threads)
        # shared by every thread that decodes (the worker's read-ahead and its main thread)
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.threads - 1))

    def decode(self, data: bytes, flags: int) -> Optional[np.ndarray]:
        """The decoded picture (cv2 imdecode flags), or None: not splittable, or a strip
        failed to decode (the caller decodes whole and reports errors its own way)."""
        import cv2

        if self.threads < 2:
            return None
        strips = split(data, self.threads)
        if strips is None:
            return None

        def one(blob: bytes) -> Any:
            return cv2.imdecode(np.frombuffer(blob, np.uint8), flags)

        pending = [self._pool.submit(one, blob) for blob in strips[1:]]
        parts = [one(strips[0])] + [p.result() for p in pending]
        if any(p is None for p in parts) or len(set(p.shape[1:] for p in parts)) != 1:
            return None
        return np.vstack(parts)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
