"""Events (one row per plate event), their reads (one row per distinct text read), cameras,
known plates; the look-alike column ``plate_key``, its one-deletion neighbours
(``event_keys``) and a trigram index over it for fuzzy search."""

NAME = "initial"

_COMMON = [
    """CREATE TABLE cameras (
        camera TEXT PRIMARY KEY,
        site TEXT NOT NULL DEFAULT '',
        first_seen DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL,
        events INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE known_plates (
        plate TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE events (
        id TEXT PRIMARY KEY,
        camera TEXT NOT NULL,
        site TEXT NOT NULL DEFAULT '',
        first_seen DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL,
        emitted DOUBLE PRECISION NOT NULL,
        plate TEXT NOT NULL,
        plate_key TEXT NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        country TEXT NOT NULL DEFAULT '',
        frames INTEGER NOT NULL DEFAULT 0,
        reads INTEGER NOT NULL DEFAULT 0,
        candidates TEXT NOT NULL DEFAULT '[]',
        label TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        box TEXT NOT NULL DEFAULT '[]',
        best_frame TEXT NOT NULL DEFAULT '',
        crop_path TEXT,
        frame_path TEXT,
        evidence_bytes INTEGER NOT NULL DEFAULT 0,
        body TEXT NOT NULL DEFAULT '{}')""",
    # each event's key and its one-character deletions (store.lookalike.neighbours): plates
    # within one edit of a search share a row here
    """CREATE TABLE event_keys (
        variant TEXT NOT NULL,
        event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        PRIMARY KEY (variant, event_id))""",
    "CREATE INDEX event_keys_event ON event_keys (event_id)",
    "CREATE INDEX events_first_seen ON events (first_seen)",
    "CREATE INDEX events_camera_time ON events (camera, first_seen)",
    "CREATE INDEX events_label_time ON events (label, first_seen)",
    "CREATE INDEX events_evidence ON events (emitted) WHERE evidence_bytes > 0",
]

SQLITE = _COMMON + [
    """CREATE TABLE event_reads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        count INTEGER NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        mean_confidence DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX event_reads_event ON event_reads (event_id)",
    # FTS5's trigram tokenizer over the look-alike key: a substring index for fuzzy search
    """CREATE VIRTUAL TABLE events_fts USING fts5(plate_key, content='events',
        content_rowid='rowid', tokenize='trigram')""",
    """CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN
        INSERT INTO events_fts (rowid, plate_key) VALUES (new.rowid, new.plate_key); END""",
    """CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN
        INSERT INTO events_fts (events_fts, rowid, plate_key)
        VALUES ('delete', old.rowid, old.plate_key); END""",
    """CREATE TRIGGER events_fts_update AFTER UPDATE OF plate_key ON events BEGIN
        INSERT INTO events_fts (events_fts, rowid, plate_key)
        VALUES ('delete', old.rowid, old.plate_key);
        INSERT INTO events_fts (rowid, plate_key) VALUES (new.rowid, new.plate_key); END""",
]

POSTGRES = _COMMON + [
    """CREATE TABLE event_reads (
        id BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        count INTEGER NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        mean_confidence DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX event_reads_event ON event_reads (event_id)",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX events_key_trgm ON events USING gin (plate_key gin_trgm_ops)",
]
