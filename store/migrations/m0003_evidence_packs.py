"""Evidence packs, and a cheaper ingest on PostgreSQL.

- Each event row names the pack file holding its pictures (``evidence_pack``), so a purge
  clears one pack's rows with one indexed UPDATE (store.evidence). The partial index the
  per-event purge walked (``events_evidence``) has no reader left and goes.
- PostgreSQL: event_keys and event_reads lose their foreign keys to events. Their rows are
  only ever written by EventStore.write_events, in the transaction of their event, and events
  are never deleted; the checks cost one trigger query per row, ~9 per event, and dropping
  them took a 50-event commit from 3,420-3,926 to 5,007-5,190 events/s here
  (docs/store.md). SQLite runs them in-process and keeps them.
"""

NAME = "evidence_packs"

_COMMON = [
    "ALTER TABLE events ADD COLUMN evidence_pack TEXT",
    "CREATE INDEX events_evidence_pack ON events (evidence_pack)",
    "DROP INDEX events_evidence",
]

SQLITE = list(_COMMON)

POSTGRES = _COMMON + [
    "ALTER TABLE event_keys DROP CONSTRAINT IF EXISTS event_keys_event_id_fkey",
    "ALTER TABLE event_reads DROP CONSTRAINT IF EXISTS event_reads_event_id_fkey",
]
