"""Wire format: envelopes and result records round-trip; malformed input raises FrameDecodeError only."""
import msgpack
import pytest

from alpr.errors import FrameDecodeError
from alpr.protocol import (
    FrameEnvelope,
    ResultRecord,
    decode_frame,
    decode_result,
    encode_frame,
    encode_result,
)


def test_envelope_round_trip_jpeg_and_raw():
    env = FrameEnvelope(frame_id="f1", camera="gate-1", data=b"\xff\xd8abc", ts=1700000000.5,
                        seq=42, site="hq", producer="p1", max_age_s=3.0, roi=[1, 2, 30, 40],
                        truth=["ABC123"])
    assert decode_frame(encode_frame(env)) == env
    raw = FrameEnvelope(frame_id="f2", camera="c", data=bytes(12), fmt="raw", shape=[2, 2, 3])
    back = decode_frame(encode_frame(raw))
    assert back.shape == [2, 2, 3] and back.dtype == "uint8" and back.data == bytes(12)
    assert decode_frame(bytearray(encode_frame(env))).frame_id == "f1"


def _body(**changes):
    body = {"v": 1, "id": "f", "cam": "c", "ts": 1.0, "data": b"x"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize("payload", [
    None, "text", 123, b"", b"\xc1", b"\x93\x01\x02",  # not bytes / not msgpack / not a map
    msgpack.packb([1, 2, 3]),
    msgpack.packb(_body(v=2)),  # unknown version
    msgpack.packb(_body(id=_DROP)),  # missing field
    msgpack.packb(_body(cam=5)),  # wrong type
    msgpack.packb(_body(data="not bytes")),
    msgpack.packb(_body(ts=float("nan"))),
    msgpack.packb(_body(ts=True)),
    msgpack.packb(_body(cam="c" * 1000)),  # absurdly long id
    msgpack.packb(_body(id="")),  # empty ids name no frame
    msgpack.packb(_body(cam="")),
    msgpack.packb(_body(fmt="gif")),
    msgpack.packb(_body(fmt="raw", shape=[0, 2])),
    msgpack.packb(_body(fmt="raw", shape="3x3")),
    msgpack.packb(_body(roi=[1, 2, 3])),
    msgpack.packb(_body(roi=[10, 10, 0, 5])),  # [x, y, w, h]: an empty width
    msgpack.packb(_body(roi=[600, 100, 400, -20])),  # corners misread as w, h
    msgpack.packb(_body(roi=[-1, 0, 10, 10])),
    msgpack.packb(_body(truth=[1])),
    msgpack.packb(_body(age=-1.0)),
    msgpack.packb({1: 2}),  # non-string map keys
    encode_frame(FrameEnvelope(frame_id="f", camera="c", data=b"x"))[:-1],  # truncated
])
def test_malformed_envelopes_raise_frame_decode_error(payload):
    with pytest.raises(FrameDecodeError):
        decode_frame(payload)


def test_stale_and_age():
    env = FrameEnvelope(frame_id="f", camera="c", data=b"", ts=100.0, max_age_s=5.0)
    assert env.age(now=103.0) == 3.0 and not env.is_stale(now=104.9) and env.is_stale(now=105.1)


def test_result_round_trip_and_redis_cli_fields():
    rec = ResultRecord(frame_id="f", camera="cam", status="read", node="n", ts=1.0, done=2.0,
                       seq=3, site="s", timings={"total": 12.5},
                       reads=[{"text": "ABC", "confidence": 0.9, "box": [1, 2, 3, 4]}],
                       truth=["ABC"])
    fields = encode_result(rec)
    assert fields["camera"] == b"cam" and fields["status"] == b"read"
    assert decode_result(fields) == rec
    assert decode_result({k.encode(): v for k, v in fields.items()}) == rec


@pytest.mark.parametrize("fields", [
    {}, {"r": b"\xc1"}, {"r": msgpack.packb({"v": 9})},
    {"r": msgpack.packb({"v": 1, "id": "f", "cam": "c", "st": "exploded"})},
    {"r": msgpack.packb({"v": 1, "id": "f", "cam": "c", "st": "read", "reads": [1]})},
    {"r": msgpack.packb({"v": 1, "id": "f", "cam": "c", "st": "read", "t": [1]})},
])
def test_malformed_results_raise_frame_decode_error(fields):
    with pytest.raises(FrameDecodeError):
        decode_result(fields)


def test_a_frame_carries_its_camera_plate_regions():
    from alpr.errors import FrameDecodeError
    from alpr.protocol import FrameEnvelope, decode_frame, encode_frame

    env = FrameEnvelope(frame_id="f1", camera="gate", data=b"x", regions=["de", "fr"])
    assert decode_frame(encode_frame(env)).regions == ["de", "fr"]
    assert decode_frame(encode_frame(FrameEnvelope("f2", "gate", b"x"))).regions is None
    import msgpack

    body = msgpack.unpackb(encode_frame(env), raw=False)
    for bad in ("de", ["x" * 40], list("abcdefghijklmnopqrstuvwxyzabcdefghij"), [1]):
        body["reg"] = bad
        with pytest.raises(FrameDecodeError):
            decode_frame(msgpack.packb(body, use_bin_type=True))


def test_result_evidence_round_trips_and_stays_optional():
    import msgpack

    from alpr.protocol import ResultRecord, decode_result, encode_result

    rec = ResultRecord(frame_id="f1", camera="c", status="read",
                       reads=[{"text": "ABC1234", "crop": b"\xff\xd8crop"}],
                       frame_jpeg=b"\xff\xd8frame", frame_scale=0.5)
    back = decode_result(encode_result(rec))
    assert back.reads[0]["crop"] == b"\xff\xd8crop"
    assert back.frame_jpeg == b"\xff\xd8frame" and back.frame_scale == 0.5
    plain = decode_result(encode_result(ResultRecord(frame_id="f2", camera="c", status="read")))
    assert plain.frame_jpeg is None and plain.frame_scale == 1.0  # records of older workers
    # a malformed crop or snapshot is dropped, the read itself still counts
    body = msgpack.unpackb(encode_result(rec)["r"], raw=False)
    body["reads"][0]["crop"] = "not bytes"
    body["ev"] = {"frame": 12, "scale": float("nan")}
    odd = decode_result({"r": msgpack.packb(body, use_bin_type=True)})
    assert odd.reads[0]["text"] == "ABC1234" and "crop" not in odd.reads[0]
    assert odd.frame_jpeg is None
