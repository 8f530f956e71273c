"""Redis Sentinel addresses: ``redis+sentinel://[user:pass@]h1:26379,h2:26379/mymaster[/db]``.

The user/password (ACL) are the data nodes'; ``?sentinel_username=&sentinel_password=``
give the sentinels' own, if they have any. ``rediss+sentinel://`` speaks TLS to both, with
the TLS files of Settings or the URL query, as rediss:// does. The client is redis-py's
``Sentinel.master_for`` with a redis-py Retry on its connections: a connection error or a
READONLY reply (the old primary, demoted) drops the connection, and the retry asks the
sentinels for the primary again, so every component follows a failover by itself.
"""
from typing import Any, Dict, List, Optional, Tuple

from alpr import defaults
from alpr.errors import ConfigError
from alpr.settings import redact_url

SENTINEL_PORT = 26379  # Redis Sentinel's registered port, when an address names none
TLS_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")


class SentinelAddress(object):
    """A parsed Sentinel URL."""

    def __init__(self, sentinels: List[Tuple[str, int]], service: str, db: int = 0,
                 username: Optional[str] = None, password: Optional[str] = None,
                 tls: bool = False, query: Optional[Dict[str, str]] = None) -> None:
        self.sentinels, self.service, self.db = sentinels, service, db
        self.username, self.password, self.tls = username, password, tls
        self.query = dict(query or {})


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Split a redis+sentinel:// URL; ConfigError (password masked) when it is malformed."""
    from urllib.parse import parse_qsl, unquote

    try:
        scheme, rest = url.split("://", 1)
        netloc, _, path = rest.partition("/")
        path, _, query = path.partition("?")
        creds, _, hosts = netloc.rpartition("@")
        username = password = None
        if creds:
            user, _, secret = creds.partition(":")
            username, password = (unquote(user) or None), (unquote(secret) or None)
        sentinels = []
        for host in hosts.split(","):
            name, _, port = host.strip().rpartition(":") if ":" in host else (host.strip(), "", "")
            if not name:
                raise ValueError("an empty sentinel address")
            sentinels.append((name.strip("[]"), int(port) if port else SENTINEL_PORT))
        parts = [p for p in path.split("/") if p]
        if not parts or len(parts) > 2:
            raise ValueError("the path must be /<service>[/<db>]")
        db = int(parts[1]) if len(parts) == 2 else 0
        return SentinelAddress(sentinels, unquote(parts[0]), db, username, password,
                               scheme.lower().startswith("rediss"), dict(parse_qsl(query)))
    except ValueError as exc:
        raise ConfigError("bad Sentinel URL %s: %s (use redis+sentinel://host:26379,"
                          "host2:26379/mymaster/0)" % (redact_url(url), exc)) from None


def sentinel_client(url: str, socket_timeout: Optional[float], connect_timeout: float,
                    health_check_interval: int, tls: Dict[str, str],
                    decode_responses: bool = False) -> Any:
    """A redis.Redis bound to the Sentinel-monitored primary of ``url``'s service."""
    import redis
    from redis.sentinel import Sentinel

    from alpr.redis_retry import client_retry

    address = parse_sentinel_url(url)
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout}
    node_kwargs = dict(timeouts, db=address.db, username=address.username,
                       password=address.password, health_check_interval=health_check_interval,
                       decode_responses=decode_responses,
                       **client_retry(defaults.SENTINEL_RETRIES))  # type: Dict[str, Any]
    sentinel_kwargs = dict(timeouts, username=address.query.get("sentinel_username") or None,
                           password=address.query.get("sentinel_password") or None)
    if address.tls:
        files = {name: address.query.get(name) or tls.get(name) for name in TLS_OPTIONS}
        files = {k: v for k, v in files.items() if v}
        node_kwargs.update(files, ssl=True)
        sentinel_kwargs.update(files, ssl=True)
    manager = Sentinel(address.sentinels, sentinel_kwargs=sentinel_kwargs, **node_kwargs)
    return manager.master_for(address.service, redis_class=redis.Redis)
