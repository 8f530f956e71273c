"""alpr needs Redis >= 6.2 (XAUTOCLAIM, BLMOVE, ZADD GT): checked at connect, refused clearly.

The real redis-server (7.x here) passes. An old server is played by a fake (named so): a
socket that answers PING and an INFO reply naming Redis 6.0.16; the unit test uses a fake
client, and the real `alpr worker` / `alpr produce` / `alpr dispatch` processes are pointed
at the fake socket: each answers with one line and exit code 2.
"""
import subprocess
import sys

import pytest

from old_redis import OldRedis

from alpr.errors import RedisVersionError
from alpr.redis_conn import connect, parse_version, require_version
from testenv import subprocess_env

OLD = "6.0.16"


class FakeInfoClient(object):
    """Unit-test fake of a redis client: only INFO, with a given version."""

    def __init__(self, version):
        self.version = version

    def info(self, section=None):
        return {"redis_version": self.version}


def test_versions_below_6_2_are_refused_with_a_clear_message():
    assert parse_version("6.2.14") == (6, 2, 14) and parse_version("7.0.15") == (7, 0, 15)
    assert require_version(FakeInfoClient("6.2.0"), "redis://h/0") == "6.2.0"
    assert require_version(FakeInfoClient("7.4.1"), "redis://h/0") == "7.4.1"
    with pytest.raises(RedisVersionError) as info:
        require_version(FakeInfoClient(OLD), "redis://user:secret@h:6379/0")
    message = str(info.value)
    assert "alpr needs Redis >= 6.2" in message and OLD in message
    assert "secret" not in message


def test_the_real_server_passes(redis_url):
    version = require_version(connect(redis_url), redis_url)
    assert parse_version(version) >= (6, 2)


def _pop_command(buf):
    """(argument list, rest) of the first complete RESP command in buf, or (None, buf)."""
    if not buf.startswith(b"*") or b"\r\n" not in buf:
        return None, buf
    head, rest = buf.split(b"\r\n", 1)
    args = []
    for _ in range(int(head[1:])):
        if b"\r\n" not in rest:
            return None, buf
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line[1:])
        if len(rest) < size + 2:
            return None, buf
        args.append(rest[:size])
        rest = rest[size + 2:]
    return args, rest


@pytest.mark.parametrize("verb", [["worker", "--engine", "null"], ["produce", "scenes"],
                                  ["dispatch"]])
def test_commands_refuse_an_old_redis_with_one_line_and_exit_code_2(verb):
    fake = OldRedis(OLD)
    try:
        url = "redis://127.0.0.1:%d/0" % fake.port
        proc = subprocess.run([sys.executable, "-m", "alpr"] + verb + ["--redis-url", url],
                              env=subprocess_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        fake.close()
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "alpr needs Redis" in line]
    assert len(lines) == 1 and OLD in lines[0], err
