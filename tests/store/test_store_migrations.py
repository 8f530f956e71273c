"""The migration runner: a migration applies whole or not at all, on both backends."""
import importlib

import pytest


def test_a_migration_that_fails_half_way_leaves_nothing_behind(db_url, monkeypatch):
    """sqlite3 runs DDL outside a transaction unless one is begun by hand: a failing third
    statement must not leave the first one's column behind (the next start would then fail
    on a duplicate column, for good)."""
    from store.db import open_db
    from store.migrations import available, current_version, migrate

    db = open_db(db_url)
    last_number, _, last = available()[-1]
    monkeypatch.setattr(last, "SQLITE", ["ALTER TABLE events ADD COLUMN half_done TEXT",
                                         "THIS IS NOT SQL"])
    monkeypatch.setattr(last, "POSTGRES", list(last.SQLITE))
    with pytest.raises(Exception):
        migrate(db)
    assert current_version(db) == last_number - 1
    with db.transaction() as cur:
        names = [d[0] for d in cur.execute("SELECT * FROM events LIMIT 0").cur.description]
    assert "half_done" not in names
    monkeypatch.undo()
    importlib.reload(last)
    assert migrate(db) == last_number  # and the real one applies on the next start
    db.close()
