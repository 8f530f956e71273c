"""Alerts: one row per alert a rule fired, kept with the event that fired it (dispatcher.alerts)."""

NAME = "alerts"

_INDEXES = [
    "CREATE INDEX alerts_at ON alerts (at)",
    "CREATE INDEX alerts_camera_at ON alerts (camera, at)",
    "CREATE INDEX alerts_rule_at ON alerts (rule, at)",
    "CREATE INDEX alerts_event ON alerts (event_id)",
]

_COLUMNS = """
        rule TEXT NOT NULL,
        event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        plate TEXT NOT NULL,
        camera TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        at DOUBLE PRECISION NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        UNIQUE (rule, event_id))"""

SQLITE = ["CREATE TABLE alerts (\n        id INTEGER PRIMARY KEY AUTOINCREMENT," + _COLUMNS] + _INDEXES

POSTGRES = ["CREATE TABLE alerts (\n        id BIGSERIAL PRIMARY KEY," + _COLUMNS] + _INDEXES
