"""rediss:// against a real TLS redis-server with generated self-signed certs (CA, server, client)."""
import os
import shutil
import subprocess

import pytest

from alpr.errors import ConfigError
from alpr.redis_conn import connect
from redis_server import start_tls_server


def make_certs(d):
    def run(*args):
        subprocess.check_call(["openssl"] + list(args), cwd=d, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(d, "san.ext"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", name + ".key", "-out", name + ".csr")
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", name + ".crt")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    make_certs(str(d))
    server, port = start_tls_server(str(d), "tls-s3cret")
    yield port, d
    server.cleanup()


def test_rediss_with_ca_and_client_cert(tls_server):
    port, d = tls_server
    url = "rediss://:tls-s3cret@127.0.0.1:%d/0" % port
    client = connect(url, ssl_ca_certs=str(d / "ca.crt"), ssl_certfile=str(d / "client.crt"),
                     ssl_keyfile=str(d / "client.key"))
    assert client.ping() is True
    query = "?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s" % (
        d / "ca.crt", d / "client.crt", d / "client.key")
    assert connect(url + query).ping() is True  # the same files from the URL query


def test_rediss_wrong_password_and_untrusted_server_are_clear(tls_server):
    port, d = tls_server
    files = dict(ssl_certfile=str(d / "client.crt"), ssl_keyfile=str(d / "client.key"))
    with pytest.raises(ConfigError) as info:
        connect("rediss://:nope-pw@127.0.0.1:%d/0" % port, ssl_ca_certs=str(d / "ca.crt"), **files)
    assert "nope-pw" not in str(info.value) and "tls-s3cret" not in str(info.value)
    with pytest.raises(ConfigError) as info:  # no CA: the self-signed server is not trusted
        connect("rediss://:tls-s3cret@127.0.0.1:%d/0" % port, connect_timeout=2, **files)
    assert "certificate" in str(info.value) and "tls-s3cret" not in str(info.value)
