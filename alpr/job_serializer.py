"""RQ's serializer for the fleet: msgpack only, so no job payload is ever unpickled.

RQ takes any object with ``dumps``/``loads``; a payload that is not msgpack (e.g. a pickled
job written by a default ``rq.Queue``) raises, and RQ reports it as a DeserializationError.
"""
from typing import Any

import zlib

import msgpack

MAX_JOB_BYTES = 1024 * 1024  # job data carries frame keys only; anything bigger is not ours


class PayloadRefused(ValueError):
    """The job payload is not msgpack (pickle and other formats are refused unread)."""


class MsgpackSerializer(object):
    """``dumps``/``loads`` pair for ``rq.Queue(serializer=...)`` and ``Worker(serializer=...)``."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return msgpack.packb(obj, use_bin_type=True)

    @staticmethod
    def loads(data: Any) -> Any:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise PayloadRefused("job payload must be bytes, got %s" % type(data).__name__)
        data = bytes(data)
        if len(data) > MAX_JOB_BYTES:
            raise PayloadRefused("job payload of %d bytes is too big" % len(data))
        if data[:1] == b"\x80" and len(data) > 1:
            raise PayloadRefused("job payload looks like a pickle; refused without reading it")
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False,
                                   max_bin_len=MAX_JOB_BYTES, max_str_len=MAX_JOB_BYTES)
        except Exception as exc:  # msgpack raises several unrelated types on garbage
            raise PayloadRefused("job payload is not msgpack: %s" % exc) from None


def inflate(data: bytes, limit: int = MAX_JOB_BYTES) -> bytes:
    """RQ's job data as stored: zlib-compressed (RQ compresses it) or plain. Inflated with a
    bounded decompressobj, so a small zlib bomb cannot make a node allocate more than
    ``limit`` bytes; PayloadRefused beyond it or on a truncated stream."""
    data = bytes(data)
    if not data:
        return data
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        return data  # not compressed: RQ stores it as is then
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadRefused("job data inflates beyond %d bytes" % limit)
    if not inflater.eof:
        raise PayloadRefused("job data is a truncated zlib stream")
    return out
