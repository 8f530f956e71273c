"""Fixtures of the store tests: a real PostgreSQL per session, each test on SQLite and on it."""
from store_fixtures import db_url, event_store, pg_server  # noqa: F401
