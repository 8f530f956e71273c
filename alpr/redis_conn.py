"""One way to open Redis: redis://, rediss:// (TLS), unix://, ACL user/password in the URL,
and Redis Sentinel: ``redis+sentinel://[user:pass@]host:26379,host2:26379/mymaster[/db]``
(``rediss+sentinel://`` for TLS to the sentinels and the data nodes).

Timeouts and the health check come from alpr.defaults; TLS files from Settings or the URL
query (``?ssl_ca_certs=...``). Errors name the URL with its password masked, never the secret.
Every client carries redis-py's own ``Retry`` (``client_retry``): a command that meets a
connection error or a timeout reconnects and is sent again with exponential backoff, so a
Redis restart costs a pause, not an exception, and no call site wraps single commands.
A Sentinel client follows a failover itself: each connection asks the sentinels for the
current primary, and the same Retry reconnects (to the new primary) after a connection
error or a READONLY reply from a demoted one. What redis-py's Retry cannot do (wait for
Redis forever until the process is told to stop; replay a MULTI on redis-py 4.3, which
does not retry pipelines after a connection error) is alpr.retry's loop around a whole step.
"""
import logging
from typing import Any, Dict, Optional, Tuple

from alpr import defaults
from alpr.redis_retry import client_retry
from alpr.errors import ConfigError, ConnectionLostError, RedisVersionError
from alpr.settings import redact_url

log = logging.getLogger(__name__)

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def connect(url: str, socket_timeout: Optional[float] = defaults.SOCKET_TIMEOUT_S,
            connect_timeout: float = defaults.CONNECT_TIMEOUT_S,
            health_check_interval: int = defaults.HEALTH_CHECK_S,
            ssl_ca_certs: str = "", ssl_certfile: str = "", ssl_keyfile: str = "",
            ssl_cert_reqs: str = defaults.TLS_CERT_REQS, check: bool = True,
            decode_responses: bool = False) -> Any:
    """A redis.Redis for ``url``; with ``check`` it pings once and translates failures.

    Raises ConfigError for bad URLs and refused credentials (not worth retrying) and
    ConnectionLostError when the server cannot be reached (a caller's Retry may try again).
    """
    import redis

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in SENTINEL_SCHEMES:
        from alpr.sentinel import sentinel_client

        client = sentinel_client(url, socket_timeout, connect_timeout, health_check_interval,
                                 dict(ssl_ca_certs=ssl_ca_certs, ssl_certfile=ssl_certfile,
                                      ssl_keyfile=ssl_keyfile, ssl_cert_reqs=ssl_cert_reqs),
                                 decode_responses)
        if check:
            ping(client, url)
        return client
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("Redis URL %s must start with redis://, rediss://, unix:// or "
                          "redis+sentinel://" % redact_url(url))
    kwargs = {"socket_timeout": socket_timeout, "health_check_interval": health_check_interval,
              "decode_responses": decode_responses}  # type: Dict[str, Any]
    kwargs.update(client_retry())
    if scheme != "unix":
        kwargs["socket_connect_timeout"] = connect_timeout
    if scheme == "rediss":
        query = url.split("?", 1)[1] if "?" in url else ""
        for name, value in (("ssl_ca_certs", ssl_ca_certs), ("ssl_certfile", ssl_certfile),
                            ("ssl_keyfile", ssl_keyfile), ("ssl_cert_reqs", ssl_cert_reqs)):
            if value and name + "=" not in query:  # the URL's own query wins
                kwargs[name] = value
    try:
        client = redis.Redis.from_url(url, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError("bad Redis URL %s: %s" % (redact_url(url), _scrub(exc, url))) from None
    if check:
        ping(client, url)
    return client


def connect_settings(settings: Any, check: bool = True) -> Any:
    """``connect`` with the URL and TLS files of a Settings object; with ``check``, the
    server's version is checked too (require_version)."""
    client = connect(settings.redis_url, ssl_ca_certs=settings.redis_ca_certs,
                     ssl_certfile=settings.redis_certfile, ssl_keyfile=settings.redis_keyfile,
                     ssl_cert_reqs=settings.redis_cert_reqs, check=check)
    if check:
        require_version(client, settings.redis_url)
    return client


def require_version(client: Any, url: str,
                    minimum: Tuple[int, int] = defaults.MIN_REDIS_VERSION) -> Optional[str]:
    """Refuse (RedisVersionError) a server older than ``minimum``; returns its version.

    A server that will not say (INFO denied to an ACL user) is let through with a warning:
    the commands that need the version then fail with Redis's own error.
    """
    import redis

    try:
        version = str(client.info("server").get("redis_version", ""))
    except redis.exceptions.ResponseError as exc:
        log.warning("Redis at %s does not tell its version (%s); alpr needs >= %s",
                    redact_url(url), _scrub(exc, url), _dotted(minimum))
        return None
    if parse_version(version) < tuple(minimum):
        raise RedisVersionError(
            "alpr needs Redis >= %s (XAUTOCLAIM, BLMOVE, ZADD GT); %s runs %s"
            % (_dotted(minimum), redact_url(url), version or "an unknown version"))
    return version


def parse_version(text: str) -> Tuple[int, ...]:
    """'6.2.14' -> (6, 2, 14); unparsable parts count as 0."""
    out = []
    for part in str(text).split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _dotted(version: Tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)


def ping(client: Any, url: str) -> None:
    """PING once; auth failures -> ConfigError, unreachable -> ConnectionLostError (no secrets)."""
    import redis

    try:
        client.ping()
    except (redis.exceptions.AuthenticationError,
            redis.exceptions.AuthenticationWrongNumberOfArgsError) as exc:
        raise ConfigError("Redis at %s refused the credentials (%s); check the user/password "
                          "in the URL" % (redact_url(url), _scrub(exc, url))) from None
    except redis.exceptions.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc) or "NOPERM" in str(exc):
            raise ConfigError("Redis at %s refused the credentials (%s)"
                              % (redact_url(url), _scrub(exc, url))) from None
        raise
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        if "SSL" in str(exc) or "certificate" in str(exc).lower():  # retrying will not fix TLS
            raise ConfigError("TLS to Redis at %s failed (check the CA / client certificate "
                              "settings): %s" % (redact_url(url), _scrub(exc, url))) from None
        raise ConnectionLostError("cannot reach Redis at %s: %s"
                                  % (redact_url(url), _scrub(exc, url))) from None


def _scrub(exc: BaseException, url: str) -> str:
    """The error text with any password from the URL masked."""
    text = str(exc)
    password = _password(url)
    return text.replace(password, "***") if password else text


def _password(url: str) -> str:
    try:
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(url).password or "")
    except ValueError:
        return ""
