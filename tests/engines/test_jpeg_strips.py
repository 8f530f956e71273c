"""engines.jpeg_strips: JPEGs with restart markers decode in strips on several threads."""
import cv2
import numpy as np
import pytest

from engines.image_io import DecodedFrame, decode, probe
from alpr.jpeg_encoding import encode_params, rst_interval_for
from engines.jpeg_strips import StripDecoder, layout, split


def _scene(h, w, seed=0):
    """Smooth gradients plus noise and edges: real chroma, not flat blocks."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // max(1, w - 1)), (y * 255 // max(1, h - 1)),
                    ((x + y) % 256)], axis=2).astype(np.int16)
    img += rng.randint(-20, 21, img.shape).astype(np.int16)
    img[h // 3:h // 2, w // 4:w // 2] = (30, 200, 240)
    return np.clip(img, 0, 255).astype(np.uint8)


def _encode(img, params=None):
    params = params if params is not None else encode_params(img.shape[1], 90)
    ok, buf = cv2.imencode(".jpg", img, params)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def strips():
    decoder = StripDecoder(4)
    yield decoder
    decoder.close()


@pytest.mark.parametrize("h,w", [(1080, 1920), (720, 1280), (481, 641), (200, 3000)])
def test_strip_decode_equals_a_whole_decode(strips, h, w):
    data = _encode(_scene(h, w))
    info = layout(data)
    assert info is not None and info.rows_per_interval == 1 and (info.height, info.width) == (h, w)
    for flag in (cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_COLOR_4,
                 cv2.IMREAD_REDUCED_COLOR_8):
        whole = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        got = strips.decode(data, flag)
        if got is None:  # too few MCU rows to split (200 px): the caller decodes whole
            assert h < 8 * 16 * 2
            continue
        assert got.shape == whole.shape and np.array_equal(got, whole)
    whole = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    got = strips.decode(data, cv2.IMREAD_COLOR)
    if got is not None:  # full scale: chroma upsampling differs only beside the seams
        diff = np.abs(got.astype(int) - whole.astype(int)).max(axis=(1, 2))
        seams = [len(p) for p in split(data, 4)]
        assert got.shape == whole.shape and diff.max() <= 40
        assert (diff > 0).sum() <= 2 * (len(seams) - 1)


def test_strips_start_on_rst0_and_have_the_promised_heights():
    data = _encode(_scene(1080, 1920))
    parts = split(data, 2)
    assert len(parts) == 2
    heights = [probe(p).height for p in parts]
    assert sum(heights) == 1080 and heights[0] % 16 == 0 and heights[0] % (8 * 16) == 0
    for part in parts:
        assert part.endswith(b"\xff\xd9") and b"\xff\xd7\xff\xd9" not in part
        body = part[layout(part).scan_pos:]
        first = min(body.find(bytes([0xFF, m])) for m in range(0xD0, 0xD8)
                    if body.find(bytes([0xFF, m])) >= 0)
        assert body[first + 1] == 0xD0  # numbering starts again at RST0
    assert split(data, 4) is not None and len(split(data, 4)) == 4


def test_jpegs_that_cannot_be_split_are_left_to_a_whole_decode(strips):
    img = _scene(720, 1280)
    plain = _encode(img, [int(cv2.IMWRITE_JPEG_QUALITY), 90])  # no restart markers
    progressive = _encode(img, encode_params(1280, 90) + [int(cv2.IMWRITE_JPEG_PROGRESSIVE), 1])
    odd = _encode(img, [int(cv2.IMWRITE_JPEG_QUALITY), 90,
                        int(cv2.IMWRITE_JPEG_RST_INTERVAL), rst_interval_for(1280) + 3])
    for data in (plain, progressive, odd):
        assert layout(data) is None and split(data, 4) is None
        assert strips.decode(data, cv2.IMREAD_COLOR) is None
        assert decode(data, 2, strips=strips).shape == (360, 640, 3)  # whole, still fine
    assert StripDecoder(1).decode(_encode(img), cv2.IMREAD_COLOR) is None


def test_decoded_frame_uses_strips_and_a_corrupt_strip_falls_back(strips):
    data = _encode(_scene(1080, 1920))
    frame = DecodedFrame(data, 2, strips=strips)
    assert frame.image.shape == (540, 960, 3)
    assert np.array_equal(frame.image, decode(data, 2))
    broken = bytearray(data)
    scan = layout(data).scan_pos
    broken[scan + 10:scan + 400] = b"\x00" * 390  # damaged entropy data, markers intact
    out = decode(bytes(broken), 2, strips=strips)  # decodes (garbage pixels), never raises
    assert out.shape == (540, 960, 3)


def test_producer_frames_carry_one_restart_marker_per_mcu_row():
    from producer.sender import encode_jpeg
    from producer.sources import SourceFrame

    data = encode_jpeg(SourceFrame(image=_scene(720, 1280)), 90)
    info = layout(data)
    assert info is not None and info.rows_per_interval == 1
    assert data.count(b"\xff\xd7") == (720 // 16 - 1) // 8
