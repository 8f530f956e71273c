"""Versioned schema migrations: numbered modules m0001_*.py, applied in order, recorded in
``schema_migrations``.

A small runner rather than alembic: alembic needs SQLAlchemy, and the store talks to its two
drivers (sqlite3, psycopg) directly, so the whole runner is this file. Each migration module
holds ``NAME`` and one list of statements per dialect (``SQLITE``, ``POSTGRES``): one schema,
two spellings where the databases differ (autoincrement, the trigram index). A database whose
schema is newer than this code is refused, never downgraded.
"""
import importlib
import pkgutil
import re
import time
from typing import List, Tuple

from alpr.errors import StoreError
from store.db import POSTGRES, Database

_NAME = re.compile(r"^m(\d{4})_\w+$")


def available() -> List[Tuple[int, str, object]]:
    """(version, module name, module) of every migration shipped, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):  # type: ignore[name-defined]
        match = _NAME.match(info.name)
        if match:
            found.append((int(match.group(1)), info.name,
                          importlib.import_module("%s.%s" % (__name__, info.name))))
    found.sort(key=lambda item: item[0])
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError("migration numbers must run 1, 2, 3...: %s" % versions)
    return found


def current_version(db: Database) -> int:
    with db.transaction() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)")
        row = cur.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0) if row else 0


def migrate(db: Database) -> int:
    """Apply every migration newer than the database's version; returns the version now."""
    shipped = available()
    version = current_version(db)
    if version > len(shipped):
        raise StoreError("database schema is version %d, this code knows %d: upgrade the code"
                         % (version, len(shipped)))
    for number, name, module in shipped[version:]:
        statements = getattr(module, "POSTGRES" if db.dialect == POSTGRES else "SQLITE")
        with db.transaction() as cur:  # one transaction per migration (both backends: DDL too)
            # two dispatchers starting at once: one migrates, the other sees it done
            if db.dialect == POSTGRES:
                cur.execute("SELECT pg_advisory_xact_lock(4242001)")
            else:  # sqlite3 runs DDL outside any transaction unless one is begun by hand
                cur.execute("BEGIN IMMEDIATE")
            row = cur.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            if row and row[0] is not None and int(row[0]) >= number:
                continue
            for statement in statements:
                cur.execute(statement)
            cur.execute("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                        (number, name, time.time()))
        version = number
    return version
