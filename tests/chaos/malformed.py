"""Hypothesis strategies for malformed fleet inputs (R3): envelopes, images, result entries.

Each strategy yields bytes (or stream-entry field maps) that a hostile or buggy producer
could put on the wire; the fleet must answer every one with an error record, not a crash.
"""
import struct
import zlib
from typing import Any, Dict

import msgpack
import numpy as np
from hypothesis import strategies as st

from alpr.protocol import RESULT_VERSION, FrameEnvelope, encode_frame

# --- images -------------------------------------------------------------------------


def tiny_jpeg(h: int = 24, w: int = 32, seed: int = 0) -> bytes:
    """A small valid JPEG (noise) to mutate."""
    import cv2

    img = np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


def tiny_png(h: int = 8, w: int = 8) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
    assert ok
    return buf.tobytes()


def jpeg_claiming(h: int, w: int) -> bytes:
    """A JPEG whose SOF header claims h x w pixels but whose body is tiny (decompression bomb)."""
    data = bytearray(tiny_jpeg())
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            data[at + 5:at + 9] = struct.pack(">HH", h, w)
            break
    return bytes(data)


def png_claiming(h: int, w: int) -> bytes:
    """A PNG whose IHDR claims h x w pixels (CRC fixed so the header itself is valid)."""
    data = bytearray(tiny_png())
    at = data.find(b"IHDR")
    data[at + 4:at + 12] = struct.pack(">II", w, h)
    crc = zlib.crc32(bytes(data[at:at + 17])) & 0xFFFFFFFF
    data[at + 17:at + 21] = struct.pack(">I", crc)
    return bytes(data)


ODD_IMAGE_HEADERS = [
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",  # GIF: OpenCV does not read GIF
    b"BM" + b"\x00" * 60,  # a BMP header with nothing behind it
    b"II*\x00" + b"\x00" * 40,  # a TIFF header with nothing behind it
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",  # truncated WebP
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 signature only
    b"P6\n99999 99999\n255\n",  # PPM claiming 10^10 pixels
    b"%PDF-1.4\n",  # not an image at all
]


@st.composite
def bad_images(draw: Any) -> bytes:
    """Image bytes that are not a usable picture: corrupt, truncated, huge, odd format."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped", "bomb_jpeg", "bomb_png",
                                 "odd", "empty", "zeros"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=2048))
    if kind == "truncated":
        good = tiny_jpeg(seed=draw(st.integers(0, 5)))
        return good[:draw(st.integers(0, len(good) - 3))]
    if kind == "flipped":
        good = bytearray(tiny_jpeg())
        for _ in range(draw(st.integers(1, 20))):
            at = draw(st.integers(0, len(good) - 1))
            good[at] = draw(st.integers(0, 255))
        return bytes(good)
    if kind == "bomb_jpeg":
        return jpeg_claiming(draw(st.integers(20000, 65500)), draw(st.integers(20000, 65500)))
    if kind == "bomb_png":
        return png_claiming(draw(st.integers(20000, 2 ** 31 - 1)),
                            draw(st.integers(20000, 2 ** 31 - 1)))
    if kind == "odd":
        return draw(st.sampled_from(ODD_IMAGE_HEADERS))
    if kind == "empty":
        return b""
    return b"\x00" * draw(st.integers(1, 4096))


# --- envelopes ------------------------------------------------------------------------

odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40)
long_text = st.text(min_size=201, max_size=400)
weird_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1),
    st.just(-1.0), st.just(0.0), st.just(-1e18))
wrong_types = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
    st.binary(max_size=10), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def base_body(frame_id: str = "fuzz", camera: str = "fuzzcam") -> Dict[str, Any]:
    """A valid envelope body (as a dict) whose fields the strategies then break."""
    env = FrameEnvelope(frame_id=frame_id, camera=camera, data=tiny_jpeg(), max_age_s=30.0)
    return msgpack.unpackb(encode_frame(env), raw=False)


FIELDS = ["v", "id", "cam", "ts", "seq", "site", "prod", "age", "fmt", "data", "shape",
          "dtype", "roi", "truth"]


@st.composite
def broken_bodies(draw: Any, frame_id: str = "fuzz", camera: str = "fuzzcam") -> Dict[str, Any]:
    """Envelope maps with missing fields, wrong types, odd unicode, negative timestamps..."""
    body = base_body(frame_id, camera)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(FIELDS))
        how = draw(st.sampled_from(["drop", "wrong", "unicode", "long", "number", "image",
                                    "raw"]))
        if how == "drop":
            body.pop(field, None)
        elif how == "wrong":
            body[field] = draw(wrong_types)
        elif how == "unicode":
            body[draw(st.sampled_from(["id", "cam", "site", "prod"]))] = draw(odd_text)
        elif how == "long":
            body[draw(st.sampled_from(["id", "cam", "site", "prod"]))] = draw(long_text)
        elif how == "number":
            body[draw(st.sampled_from(["ts", "age", "seq", "v"]))] = draw(weird_numbers)
        elif how == "image":
            body["data"] = draw(bad_images())
        else:
            body["fmt"] = "raw"
            body["shape"] = draw(st.lists(st.integers(-5, 70000), min_size=0, max_size=4))
            body["dtype"] = draw(st.sampled_from(["uint8", "float64", "object", "<U5", "zz"]))
            body["data"] = draw(st.binary(max_size=256))
    return body


def pack(obj: Any) -> bytes:
    """msgpack with fallbacks for values msgpack cannot pack (huge ints)."""
    try:
        return msgpack.packb(obj, use_bin_type=True)
    except (OverflowError, TypeError, ValueError):
        return msgpack.packb(repr(obj), use_bin_type=True)


@st.composite
def malformed_payloads(draw: Any, frame_id: str = "fuzz", camera: str = "fuzzcam") -> bytes:
    """Bytes a frame key could hold: garbage, truncated/oversized msgpack, broken envelopes."""
    kind = draw(st.sampled_from(["garbage", "truncated", "oversized_header", "not_map",
                                 "broken", "broken", "broken", "bad_image_only"]))
    if kind == "garbage":
        return draw(st.binary(min_size=0, max_size=512))
    if kind == "truncated":
        good = encode_frame(FrameEnvelope(frame_id=frame_id, camera=camera, data=tiny_jpeg()))
        return good[:draw(st.integers(0, len(good) - 1))]
    if kind == "oversized_header":
        # bin32 / array32 / map32 headers announcing ~4 GB that is not there
        return draw(st.sampled_from([b"\xc6\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
                                     b"\xdf\xff\xff\xff\xff", b"\xdb\x7f\xff\xff\xff"]))
    if kind == "not_map":
        return pack(draw(wrong_types))
    if kind == "bad_image_only":
        body = base_body(frame_id, camera)
        body["data"] = draw(bad_images())
        return pack(body)
    return pack(draw(broken_bodies(frame_id, camera)))


def key_names(body: Any, frame_id: str = "fuzz", camera: str = "fuzzcam") -> Any:
    """The (frame id, camera) a producer would key this body under: its own, when usable."""
    if isinstance(body, dict):
        fid, cam = body.get("id"), body.get("cam")
        if isinstance(fid, str) and len(fid) <= 200 and "\x00" not in fid:
            frame_id = fid
        if isinstance(cam, str) and len(cam) <= 200 and "\x00" not in cam:
            camera = cam
    return frame_id, camera


@st.composite
def malformed_frames(draw: Any, frame_id: str = "fuzz", camera: str = "fuzzcam") -> Any:
    """(payload, frame_id, camera): malformed bytes stored under the key its envelope names."""
    payload = draw(malformed_payloads(frame_id, camera))
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception:
        body = None
    names = key_names(body, frame_id, camera)
    return payload, names[0], names[1]


# --- result-stream entries (dispatcher side) ------------------------------------------


@st.composite
def malformed_result_fields(draw: Any) -> Dict[bytes, bytes]:
    """Results-stream entries a broken or hostile worker could XADD."""
    kind = draw(st.sampled_from(["no_r", "garbage", "wrong_version", "broken", "broken"]))
    if kind == "no_r":
        return {b"x": draw(st.binary(max_size=20))}
    if kind == "garbage":
        return {b"r": draw(st.binary(max_size=200))}
    body = {"v": RESULT_VERSION, "id": "f1", "cam": "fuzzcam", "st": "read", "node": "n",
            "why": "", "ts": 1.0, "done": 2.0, "seq": 0, "site": "", "t": {}, "reads": [],
            "truth": None}
    if kind == "wrong_version":
        body["v"] = draw(wrong_types)
        return {b"r": pack(body)}
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(sorted(body)))
        how = draw(st.sampled_from(["drop", "wrong", "unicode", "number", "reads"]))
        if how == "drop":
            body.pop(field, None)
        elif how == "wrong":
            body[field] = draw(wrong_types)
        elif how == "unicode":
            body[draw(st.sampled_from(["id", "cam", "node", "st"]))] = draw(odd_text)
        elif how == "number":
            body[draw(st.sampled_from(["ts", "done", "seq"]))] = draw(weird_numbers)
        else:
            body["reads"] = draw(st.lists(st.one_of(
                wrong_types, st.fixed_dictionaries({"text": wrong_types,
                                                    "conf": weird_numbers})), max_size=3))
    return {b"r": pack(body)}


