"""redis_conn.connect against a real redis-server: URLs, ACL users, clear errors without secrets."""
import pytest

from alpr.errors import ConfigError, ConnectionLostError
from alpr.redis_conn import connect
from redis_server import free_port


def test_connect_plain_url(redis_url):
    client = connect(redis_url)
    assert client.ping() is True
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] and kwargs["health_check_interval"] > 0


def test_acl_user_and_wrong_password_message_has_no_secret(redis_server, redis_client):
    redis_client.execute_command("ACL", "SETUSER", "alice", "on", ">s3cr3t-pw", "~*", "&*",
                                 "+@all")
    try:
        host = "127.0.0.1:%d" % redis_server.port
        assert connect("redis://alice:s3cr3t-pw@%s/0" % host).ping() is True
        with pytest.raises(ConfigError) as info:
            connect("redis://alice:wr0ng-pw@%s/0" % host)
        message = str(info.value)
        assert "wr0ng-pw" not in message and "refused the credentials" in message
        assert "***@" in message
    finally:
        redis_client.execute_command("ACL", "DELUSER", "alice")


def test_bad_scheme_and_unreachable_are_clear():
    with pytest.raises(ConfigError):
        connect("http://user:pw@localhost:1/0")
    with pytest.raises(ConnectionLostError) as info:
        connect("redis://bob:pw123@127.0.0.1:%d/0" % free_port(), connect_timeout=0.5)
    assert "pw123" not in str(info.value)


def test_unix_socket(tmp_path):
    from redis_server import RedisServer

    sock = str(tmp_path / "r.sock")
    server = RedisServer(extra_args=["--unixsocket", sock, "--unixsocketperm", "700"]).start()
    try:
        assert connect("unix://%s?db=0" % sock).ping() is True
    finally:
        server.cleanup()


def test_a_client_rides_through_a_redis_restart_by_itself():
    """No alpr.retry wrapper: redis-py's Retry on the client (client_retry) reconnects a
    stale pooled connection after a restart, and backs off through a short down window."""
    import threading
    import time

    from redis_server import RedisServer

    server = RedisServer().start()
    later = threading.Timer(0.25, server.start)  # down 0.25 s: within the client's 0.6 s of backoff
    try:
        client = connect(server.url)
        assert client.set("k", "v") is True
        server.restart()  # the pooled connection is now dead
        assert client.set("k", "w") is True and client.get("k") == b"w"
        server.stop()
        later.start()
        started = time.monotonic()
        assert client.incr("n") == 1  # sent during the outage, answered after it
        assert time.monotonic() - started >= 0.2
    finally:
        later.cancel()
        if later.is_alive():
            later.join()
        server.cleanup()


def test_every_client_carries_redis_py_retry(redis_url):
    from redis.retry import Retry

    from alpr import defaults

    conn = connect(redis_url).connection_pool.get_connection("PING")
    assert isinstance(conn.retry, Retry) and conn.retry._retries == defaults.REDIS_RETRIES
