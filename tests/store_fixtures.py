"""Store fixtures (imported by the store and API conftests): a real PostgreSQL server per test
session, and each test on both backends."""
import pytest

from pg_server import PostgresServer, pg_binary


@pytest.fixture(scope="session")
def pg_server():
    if pg_binary("initdb") is None:
        pytest.skip("PostgreSQL is not installed (make test installs it: make postgresql)")
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return "sqlite:///%s" % (tmp_path / "events.db")
    server = request.getfixturevalue("pg_server")
    server.reset()
    return server.url


@pytest.fixture
def event_store(db_url):
    from store import open_store

    store = open_store(db_url)
    yield store
    store.close()
