"""The wire format: frame envelopes and result records, msgpack only (never pickle).

Two functions per message at the edge (encode/decode). Decoding validates types and
raises FrameDecodeError with context; callers turn that into an error record.
"""
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple

import msgpack

from alpr.errors import FrameDecodeError

ENVELOPE_VERSION = 1
RESULT_VERSION = 1  # v1 readers ignore the optional evidence fields added since (see below)
MAX_EVIDENCE_BYTES = 4 * 1024 * 1024  # a crop or snapshot JPEG larger than this is dropped
EVIDENCE_VERSION = 1  # the evidence:{id} value's own format
MAX_REGIONS = 32  # a camera's plate regions: the eu group is 19 countries
MAX_REGION_LEN = 16  # region and group names are short keys (br, eu, de...)
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024  # a 4K raw BGR frame is 25 MB; more is an attack
MAX_ID_LEN = 200  # camera/frame/producer ids longer than this are refused

STATUS_READ = "read"
STATUS_STALE = "stale"
STATUS_FAILED = "failed"
STATUS_DROPPED = "dropped"
TERMINAL_STATUSES = (STATUS_READ, STATUS_STALE, STATUS_FAILED, STATUS_DROPPED)


@dataclass
class FrameEnvelope:
    """One camera frame on the wire."""

    frame_id: str
    camera: str
    data: bytes  # JPEG bytes, or raw pixels when fmt == "raw"
    ts: float = field(default_factory=time.time)  # capture time, unix seconds
    seq: int = 0
    site: str = ""
    producer: str = ""
    max_age_s: float = 5.0
    fmt: str = "jpeg"  # jpeg | raw
    shape: Optional[List[int]] = None  # raw only: [h, w, c]
    dtype: str = "uint8"  # raw only
    roi: Optional[List[int]] = None  # optional [x, y, w, h] to search for plates
    truth: Optional[List[str]] = None  # labelled plate texts (generated scenes, evaluation)
    regions: Optional[List[str]] = None  # the camera's plate regions (alpr.plate_formats)

    def age(self, now: Optional[float] = None) -> float:
        return (time.time() if now is None else now) - self.ts

    def is_stale(self, now: Optional[float] = None) -> bool:
        return self.age(now) > self.max_age_s


def encode_frame(env: FrameEnvelope) -> bytes:
    """Envelope -> msgpack bytes."""
    body = {
        "v": ENVELOPE_VERSION,
        "id": env.frame_id,
        "cam": env.camera,
        "ts": float(env.ts),
        "seq": int(env.seq),
        "site": env.site,
        "prod": env.producer,
        "age": float(env.max_age_s),
        "fmt": env.fmt,
        "data": bytes(env.data),
    }
    if env.fmt == "raw":
        body["shape"] = list(env.shape or [])
        body["dtype"] = env.dtype
    if env.roi is not None:
        body["roi"] = [int(v) for v in env.roi]
    if env.truth is not None:
        body["truth"] = list(env.truth)
    if env.regions is not None:
        body["reg"] = [str(r) for r in env.regions]
    return msgpack.packb(body, use_bin_type=True)


def decode_frame(payload: Any) -> FrameEnvelope:
    """msgpack bytes -> validated envelope; anything malformed raises FrameDecodeError."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise FrameDecodeError("frame payload must be bytes, got %s" % type(payload).__name__)
    if len(payload) > MAX_ENVELOPE_BYTES:
        raise FrameDecodeError("frame payload of %d bytes exceeds the limit" % len(payload))
    try:
        body = msgpack.unpackb(
            bytes(payload), raw=False, strict_map_key=True, max_bin_len=MAX_ENVELOPE_BYTES
        )
    except Exception as exc:  # msgpack raises many unrelated types on garbage
        raise FrameDecodeError("frame is not valid msgpack: %s" % exc) from exc
    if not isinstance(body, dict):
        raise FrameDecodeError("frame envelope must be a map, got %s" % type(body).__name__)
    version = body.get("v")
    if version != ENVELOPE_VERSION:
        raise FrameDecodeError("unsupported envelope version %r" % (version,))
    env = FrameEnvelope(
        frame_id=_text_field(body, "id"),
        camera=_text_field(body, "cam"),
        data=_bytes(body, "data"),
        ts=_number(body, "ts"),
        seq=_int(body, "seq", 0),
        site=_text_field(body, "site", ""),
        producer=_text_field(body, "prod", ""),
        max_age_s=_number(body, "age", 5.0),
        fmt=_text_field(body, "fmt", "jpeg"),
    )
    if not env.frame_id or not env.camera:
        raise FrameDecodeError("frame id and camera must not be empty")
    if env.fmt not in ("jpeg", "raw"):
        raise FrameDecodeError("unknown frame format %r" % env.fmt)
    if env.fmt == "raw":
        shape = body.get("shape")
        if (
            not isinstance(shape, list)
            or len(shape) not in (2, 3)
            or not all(isinstance(v, int) and 0 < v <= 20000 for v in shape)
        ):
            raise FrameDecodeError("raw frame needs a shape [h, w(, c)] of positive ints")
        env.shape = shape
        env.dtype = _text_field(body, "dtype", "uint8")
    if "roi" in body and body["roi"] is not None:
        roi = body["roi"]
        if (not isinstance(roi, list) or len(roi) != 4
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in roi)
                or roi[0] < 0 or roi[1] < 0 or roi[2] <= 0 or roi[3] <= 0):
            raise FrameDecodeError("roi must be [x, y, w, h] ints, x, y >= 0 and w, h > 0")
        env.roi = roi
    if body.get("truth") is not None:
        truth = body["truth"]
        if not isinstance(truth, list) or not all(isinstance(t, str) for t in truth):
            raise FrameDecodeError("truth must be a list of strings")
        env.truth = truth
    if body.get("reg") is not None:
        regions = body["reg"]
        if not isinstance(regions, list) or len(regions) > MAX_REGIONS or not all(
                isinstance(r, str) and 0 < len(r) <= MAX_REGION_LEN for r in regions):
            raise FrameDecodeError("regions must be a list of at most %d short names"
                                   % MAX_REGIONS)
        env.regions = regions
    if env.max_age_s <= 0:
        raise FrameDecodeError("max age must be positive")
    return env


@dataclass
class ResultRecord:
    """One frame's terminal outcome, as the worker writes it to the results stream."""

    frame_id: str
    camera: str
    status: str  # read | stale | failed
    node: str = ""
    reason: str = ""  # why stale/failed, e.g. "expired", "bad_image: truncated JPEG"
    ts: float = 0.0  # capture time of the frame
    done: float = field(default_factory=time.time)  # when the worker finished it
    seq: int = 0
    site: str = ""
    timings: Dict[str, float] = field(default_factory=dict)  # stage -> ms
    reads: List[Dict[str, Any]] = field(default_factory=list)  # PlateRead.to_dict() items
    truth: Optional[List[str]] = None
    # evidence (optional, still v1: older dispatchers ignore it, records without it decode):
    # each read may carry "crop" (JPEG bytes of its plate); the frame snapshot goes here
    frame_jpeg: Optional[bytes] = None
    frame_scale: float = 1.0  # snapshot width / frame width (to draw read boxes on it)
    evidence_apart: bool = False  # the evidence is at evidence:{frame_id}, not in the record


def encode_result(rec: ResultRecord) -> Dict[str, bytes]:
    """Record -> stream entry fields (one msgpack field plus two readable ones for redis-cli)."""
    body = {
        "v": RESULT_VERSION,
        "id": rec.frame_id,
        "cam": rec.camera,
        "st": rec.status,
        "node": rec.node,
        "why": rec.reason,
        "ts": float(rec.ts),
        "done": float(rec.done),
        "seq": int(rec.seq),
        "site": rec.site,
        "t": {k: float(v) for k, v in rec.timings.items()},
        "reads": rec.reads,
        "truth": rec.truth,
    }
    if rec.evidence_apart:
        body["evk"] = 1
    elif rec.frame_jpeg:
        body["ev"] = {"frame": bytes(rec.frame_jpeg), "scale": float(rec.frame_scale)}
    fields_ = {
        "r": msgpack.packb(body, use_bin_type=True),
        "camera": rec.camera.encode("utf-8", "replace"),
        "status": rec.status.encode(),
    }
    if rec.evidence_apart:  # the dispatcher fetches evidence:{id} of such entries in one MGET
        fields_["ev"] = rec.frame_id.encode("utf-8", "replace")
    return fields_


def split_evidence(rec: ResultRecord) -> Tuple[ResultRecord, Optional[bytes]]:
    """(the record without its evidence, marked evidence_apart; the evidence as msgpack) for
    a record with crops or a snapshot, else (rec, None). Redis keeps the evidence under its
    own key for the frame's max age only, while the record lives as long as the stream."""
    crops = [r.get("crop") for r in rec.reads]
    if not rec.frame_jpeg and not any(crops):
        return rec, None
    blob = msgpack.packb({"v": EVIDENCE_VERSION, "crops": crops,
                          "frame": rec.frame_jpeg, "scale": float(rec.frame_scale)},
                         use_bin_type=True)
    reads = [dict((k, v) for k, v in r.items() if k != "crop") for r in rec.reads]
    return replace(rec, reads=reads, frame_jpeg=None, evidence_apart=True), blob


def join_evidence(rec: ResultRecord, blob: Any) -> bool:
    """Put evidence fetched from evidence:{id} back into the record; False (the record left
    as it is) when it is gone (past the frame's max age) or malformed."""
    if not isinstance(blob, (bytes, bytearray)) or len(blob) > 2 * MAX_EVIDENCE_BYTES:
        return False
    try:
        body = msgpack.unpackb(bytes(blob), raw=False, strict_map_key=True)
    except Exception:  # msgpack raises many unrelated types on garbage
        return False
    if not isinstance(body, dict) or body.get("v") != EVIDENCE_VERSION:
        return False
    crops = body.get("crops")
    if isinstance(crops, list):
        for read, crop in zip(rec.reads, crops):
            if isinstance(crop, bytes) and len(crop) <= MAX_EVIDENCE_BYTES:
                read["crop"] = crop
    frame, scale = body.get("frame"), body.get("scale")
    if isinstance(frame, bytes) and len(frame) <= MAX_EVIDENCE_BYTES:
        rec.frame_jpeg = frame
        if isinstance(scale, float) and math.isfinite(scale) and 0 < scale <= 1:
            rec.frame_scale = scale
    return True


def decode_result(fields_: Dict[Any, Any]) -> ResultRecord:
    """Stream entry fields -> record; malformed entries raise FrameDecodeError."""
    raw = fields_.get(b"r", fields_.get("r"))
    if raw is None:
        raise FrameDecodeError("result entry has no 'r' field")
    try:
        body = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:
        raise FrameDecodeError("result entry is not valid msgpack: %s" % exc) from exc
    if not isinstance(body, dict) or body.get("v") != RESULT_VERSION:
        raise FrameDecodeError("unsupported result record")
    status = _text_field(body, "st")
    if status not in TERMINAL_STATUSES:
        raise FrameDecodeError("unknown status %r" % status)
    reads = body.get("reads") or []
    if not isinstance(reads, list) or not all(isinstance(r, dict) for r in reads):
        raise FrameDecodeError("reads must be a list of maps")
    timings = body.get("t") or {}
    if not isinstance(timings, dict):
        raise FrameDecodeError("timings must be a map")
    truth = body.get("truth")
    for read in reads:  # a bad crop is dropped, never fatal: the read itself still counts
        crop = read.get("crop")
        if crop is not None and (not isinstance(crop, bytes) or len(crop) > MAX_EVIDENCE_BYTES):
            del read["crop"]
    frame_jpeg, frame_scale = None, 1.0
    ev = body.get("ev")
    if isinstance(ev, dict) and isinstance(ev.get("frame"), bytes) \
            and len(ev["frame"]) <= MAX_EVIDENCE_BYTES:
        frame_jpeg = ev["frame"]
        scale = ev.get("scale")
        if isinstance(scale, (int, float)) and not isinstance(scale, bool) \
                and math.isfinite(scale) and 0 < scale <= 1:
            frame_scale = float(scale)
    return ResultRecord(
        frame_id=_text_field(body, "id"),
        camera=_text_field(body, "cam"),
        status=status,
        node=_text_field(body, "node", ""),
        reason=_text_field(body, "why", ""),
        ts=_number(body, "ts", 0.0),
        done=_number(body, "done", 0.0),
        seq=_int(body, "seq", 0),
        site=_text_field(body, "site", ""),
        timings={str(k): float(v) for k, v in timings.items() if isinstance(v, (int, float))},
        reads=reads,
        truth=truth if isinstance(truth, list) else None,
        frame_jpeg=frame_jpeg,
        frame_scale=frame_scale,
        evidence_apart=bool(body.get("evk")),
    )


_MISSING = object()


def _get(body: Dict[str, Any], key: str, default: Any) -> Any:
    value = body.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise FrameDecodeError("missing field %r" % key)
        return default
    return value


def as_text(value: Any) -> str:
    """A Redis reply (bytes) or any value as text; bytes that are not UTF-8 are replaced."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def as_number(value: Any) -> Any:
    """A Redis hash value as int or float where it is one (a stats field), else as text."""
    text = as_text(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def _text_field(body: Dict[str, Any], key: str, default: Any = _MISSING) -> str:
    value = _get(body, key, default)
    if not isinstance(value, str):
        raise FrameDecodeError("field %r must be text, got %s" % (key, type(value).__name__))
    if len(value) > MAX_ID_LEN and key != "why":
        raise FrameDecodeError("field %r is longer than %d characters" % (key, MAX_ID_LEN))
    return value


def _bytes(body: Dict[str, Any], key: str) -> bytes:
    value = _get(body, key, _MISSING)
    if not isinstance(value, (bytes, bytearray)):
        raise FrameDecodeError("field %r must be bytes, got %s" % (key, type(value).__name__))
    return bytes(value)


def _number(body: Dict[str, Any], key: str, default: Any = _MISSING) -> float:
    value = _get(body, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FrameDecodeError("field %r must be a number" % key)
    value = float(value)
    if not math.isfinite(value):
        raise FrameDecodeError("field %r must be finite" % key)
    return value


def _int(body: Dict[str, Any], key: str, default: Any = _MISSING) -> int:
    value = _get(body, key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameDecodeError("field %r must be an integer" % key)
    return value
