"""A real redis-server on a free loopback port, started and stopped by the tests.

Never a mock: every test that needs Redis talks to this process. The launcher is the one
the demo and the benches use (bench.redis_server); this module adds the tests' TLS server.
"""
import os

from bench.procs import free_port  # noqa: F401  (the tests' free_port)
from bench.redis_server import RedisServer


def start_tls_server(cert_dir: str, password: str):
    """(RedisServer, TLS port) with TLS, client certificates and a password, the certificates
    already in `cert_dir` (server.crt/.key, ca.crt); pytest.skip if this redis-server has no TLS."""
    import pytest

    port = free_port()
    server = RedisServer(port=free_port(), extra_args=[
        "--tls-port", str(port), "--tls-cert-file", os.path.join(cert_dir, "server.crt"),
        "--tls-key-file", os.path.join(cert_dir, "server.key"),
        "--tls-ca-cert-file", os.path.join(cert_dir, "ca.crt"),
        "--tls-auth-clients", "yes", "--requirepass", password])
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip("redis-server without TLS support: %s" % exc)
    return server, port
