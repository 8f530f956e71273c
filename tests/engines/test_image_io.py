"""Image bytes -> BGR frames: header checks before decoding, every odd input handled."""
import struct

import cv2
import numpy as np
import pytest

from alpr.errors import ImageDecodeError
from engines.image_io import DecodedFrame, decode, probe, reduction_for


def _jpeg(h=48, w=64, seed=0):
    img = np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes(), img


def _png(img):
    return cv2.imencode(".png", img)[1].tobytes()


def _patch_jpeg_size(data, h, w):
    """Rewrite the SOF0 height/width of a JPEG, leaving everything else alone."""
    buf = bytearray(data)
    pos = buf.index(b"\xff\xc0")
    struct.pack_into(">HH", buf, pos + 5, h, w)
    return bytes(buf)


def test_probe_reads_jpeg_and_png_sizes_from_headers():
    data, img = _jpeg(48, 64)
    assert probe(data)[:] == ("jpeg", 64, 48)
    assert probe(_png(img))[:] == ("png", 64, 48)


def test_zero_bytes_is_a_clear_error():
    with pytest.raises(ImageDecodeError, match="0 bytes"):
        probe(b"")


def test_truncated_jpeg_is_refused_not_half_decoded():
    data, _ = _jpeg(64, 64)
    with pytest.raises(ImageDecodeError, match="truncated JPEG"):
        decode(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="truncated JPEG"):
        probe(data[:40])  # inside the headers


def test_huge_header_is_refused_before_any_allocation():
    data, _ = _jpeg(16, 16)
    bomb = _patch_jpeg_size(data, 20000, 20000)
    with pytest.raises(ImageDecodeError, match="larger than"):
        decode(bomb)
    png = bytearray(_png(np.zeros((4, 4, 3), np.uint8)))
    struct.pack_into(">II", png, 16, 20000, 20000)
    with pytest.raises(ImageDecodeError, match="larger than"):
        probe(bytes(png))


def test_one_pixel_image_decodes():
    img = np.full((1, 1, 3), 200, np.uint8)
    out = decode(_png(img))
    assert out.shape == (1, 1, 3) and out.dtype == np.uint8


def test_grey_rgba_and_16_bit_pngs_come_out_as_8_bit_bgr():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = decode(_png(grey))
    assert out.shape == (8, 8, 3) and (out[:, :, 0] == grey).all()
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 200, 128
    out = decode(_png(bgra))
    assert out.shape == (8, 8, 3) and (out[..., 0] == 200).all()
    deep = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    out = decode(_png(np.dstack([deep] * 3)))
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    assert (out[..., 0] == (deep >> 8)).all()


def test_garbage_and_unknown_formats_are_refused():
    with pytest.raises(ImageDecodeError, match="unsupported"):
        probe(b"GIF89a" + b"\0" * 20)
    with pytest.raises(ImageDecodeError):
        decode(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    with pytest.raises(ImageDecodeError):
        decode(b"\xff\xd8\xff\xe0\x00\x02" + b"\x00" * 10)


def test_reduction_keeps_the_frame_at_least_as_big_as_the_detector_input():
    assert reduction_for(1080, 1920, 640, 640) == 2
    assert reduction_for(1280, 1280, 640, 640) == 2
    assert reduction_for(2160, 3840, 640, 640) == 4
    assert reduction_for(720, 1000, 640, 640) == 1
    assert reduction_for(100, 100, 640, 640) == 1


def test_decoded_frame_reduces_jpeg_and_decodes_full_resolution_on_demand():
    data, img = _jpeg(96, 128)
    frame = DecodedFrame(data, reduce=2)
    assert frame.image.shape == (48, 64, 3) and (frame.width, frame.height) == (128, 96)
    assert not frame.has_full
    full = frame.full()
    assert full.shape == (96, 128, 3) and frame.has_full
    assert np.array_equal(full, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    png_frame = DecodedFrame(_png(img), reduce=2)  # PNG never DCT-reduces
    assert png_frame.reduce == 1 and png_frame.image.shape == (96, 128, 3)
