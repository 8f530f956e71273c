"""The event store: plate events, their reads, cameras and known plates in a real database.

SQLite by default (one file, WAL), PostgreSQL for a fleet (psycopg 3); one schema, applied
by numbered migrations (store.migrations). Depends on the core (alpr) only: the dispatcher
writes through it (store.sink), the API and `alpr events` read through it.
"""
from store.db import open_db, parse_url  # noqa: F401
from store.events import EventStore  # noqa: F401


def open_store(url: str, migrate: bool = True) -> "EventStore":
    """An EventStore on `url` (sqlite:///path, a bare path, or postgresql://...), migrated."""
    db = open_db(url)
    if migrate:
        from store.migrations import migrate as run_migrations

        run_migrations(db)
    return EventStore(db)
