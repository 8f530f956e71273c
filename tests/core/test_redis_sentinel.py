"""Sentinel addresses: parsing, masking, and a real failover followed by one client.

The failover test runs real processes (tests/sentinel_cluster.py): a primary, a replica and
three `redis-server --sentinel`; the primary is SIGKILLed and the same client keeps writing.
"""
import time

import pytest

from alpr.errors import ConfigError
from alpr.redis_conn import connect
from alpr.retry import standard_retry
from alpr.sentinel import parse_sentinel_url
from alpr.settings import redact_url


def test_sentinel_url_parts():
    a = parse_sentinel_url("redis+sentinel://alpr:s%40cret@h1:26380,h2,10.0.0.3:26379/mymaster/2"
                           "?sentinel_password=sp")
    assert a.sentinels == [("h1", 26380), ("h2", 26379), ("10.0.0.3", 26379)]
    assert (a.service, a.db, a.username, a.password, a.tls) == ("mymaster", 2, "alpr", "s@cret", False)
    assert a.query["sentinel_password"] == "sp"
    b = parse_sentinel_url("rediss+sentinel://h1/mymaster")
    assert b.tls and b.db == 0 and b.username is None


@pytest.mark.parametrize("url", ["redis+sentinel://h1:26379", "redis+sentinel://h1:x/m",
                                 "redis+sentinel://:pw@h1:26379/m/zero",
                                 "redis+sentinel://,/m"])
def test_bad_sentinel_url_is_a_config_error_without_the_secret(url):
    with pytest.raises(ConfigError) as err:
        connect(url, check=False)
    assert "pw" not in str(err.value) and "Sentinel URL" in str(err.value)


def test_sentinel_passwords_are_masked_in_logs():
    url = "redis+sentinel://u:topsecret@h1:26379/m/0?sentinel_password=alsosecret"
    assert "topsecret" not in redact_url(url) and "alsosecret" not in redact_url(url)


def test_tls_and_acl_reach_the_sentinel_client():
    """rediss+sentinel:// speaks TLS to the data nodes and the sentinels, with the URL's ACL
    user for the data nodes and the query's for the sentinels (no server needed to check)."""
    from redis.sentinel import SentinelManagedSSLConnection

    client = connect("rediss+sentinel://alpr:pw@127.0.0.1:1/mymaster/3?sentinel_password=sp",
                     check=False, ssl_ca_certs="/etc/ca.pem")
    pool = client.connection_pool
    assert issubclass(pool.connection_class, SentinelManagedSSLConnection)
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("alpr", "pw", 3)
    assert kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool
    assert sentinel.connection_kwargs["password"] == "sp"
    assert sentinel.connection_kwargs.get("ssl_ca_certs") == "/etc/ca.pem"


def test_one_client_with_acl_follows_a_failover():
    """A real failover (primary SIGKILLed) followed by one client, with ACL as for redis://:
    the URL's user/password reach whichever node is primary; a wrong password is a clear
    ConfigError without the secret."""
    from sentinel_cluster import SentinelCluster

    cluster = SentinelCluster(acl=("alpr", "s3cret-pw")).start()
    try:
        client = connect(cluster.url)
        client.set("before", 1)
        # replication is asynchronous: a write not yet on the replica dies with the primary
        assert client.wait(1, 5000) == 1
        with pytest.raises(ConfigError) as err:
            connect(cluster.url.replace("s3cret-pw", "wrong-pw"))
        assert "refused the credentials" in str(err.value) and "wrong-pw" not in str(err.value)
        first = cluster.master_port()
        started = time.time()
        cluster.kill_primary()
        # retried as every component does (alpr.retry over the client's own redis-py Retry)
        standard_retry(name="test").call(client.incr, "after")
        assert time.time() - started < 10
        assert cluster.master_port() == cluster.replica_port != first
        assert client.get("before") == b"1" and client.get("after") == b"1"
    finally:
        cluster.cleanup()
