"""Writes and reads of plate events, cameras and known plates (search lives in store.search).

Writes are idempotent: an event's id is the dispatcher's (camera:best frame), inserted with
ON CONFLICT DO NOTHING, so a batch written again after a lost acknowledgement, or re-emitted
from entries left pending while the database was down, is stored once.
"""
import json
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alpr.errors import StoreError
from store.db import Database
from store.lookalike import neighbours, normalize, plate_key

EVENT_COLUMNS = ("id", "camera", "site", "first_seen", "last_seen", "emitted", "plate",
                 "plate_key", "confidence", "country", "frames", "reads", "candidates", "label",
                 "note", "box", "best_frame", "crop_path", "frame_path", "evidence_bytes", "body",
                 "evidence_pack")
SELECT_EVENT = "SELECT body, label, note, crop_path, frame_path, evidence_bytes FROM events"
LABELS = ("allow", "deny")
ID_CHUNK = 500  # ids per "already stored?" query (SQLite's bound-parameter limit is far above)

#: what one stored event carries besides the event itself: evidence locations and size
Evidence = Dict[str, Any]


class EventStore(object):
    """Plate events, their reads, cameras and known plates in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def url(self) -> str:
        return self.db.url

    def close(self) -> None:
        self.db.close()

    # --- writes ------------------------------------------------------------------------
    def write_events(self, items: Sequence[Tuple[Dict[str, Any], Optional[Evidence]]]
                     ) -> List[str]:
        """Store events (with their evidence locations) in one transaction; returns the ids
        that were new (ids already stored are skipped)."""
        rows, seen = [], set()  # type: List[List[Any]], set
        for event, evidence in items:
            row = event_row(event, evidence or {})
            if row[0] not in seen:
                seen.add(row[0])
                rows.append((row, event))
        with self.db.transaction() as cur:
            existing = set()  # type: set
            ids = [row[0] for row, _ in rows]
            for start in range(0, len(ids), ID_CHUNK):
                part = ids[start:start + ID_CHUNK]
                existing.update(r[0] for r in cur.execute(
                    "SELECT id FROM events WHERE id IN (%s)" % ", ".join("?" * len(part)),
                    part).fetchall())
            fresh = [(row, event) for row, event in rows if row[0] not in existing]
            if not fresh:
                return []
            # ON CONFLICT still guards a row a second writer inserted since the SELECT
            cur.insert("events", EVENT_COLUMNS, [row for row, _ in fresh],
                       "ON CONFLICT (id) DO NOTHING")
            cur.insert("event_reads",
                       ("event_id", "text", "count", "confidence", "mean_confidence"),
                       [(row[0], str(c.get("text", "")), int(c.get("count", 0)),
                         float(c.get("confidence", 0.0)), float(c.get("mean_confidence", 0.0)))
                        for row, event in fresh for c in event.get("candidates") or []])
            cur.insert("event_keys", ("variant", "event_id"),
                       [(variant, row[0]) for row, _ in fresh for variant in neighbours(row[7])])
            cameras = {}  # type: Dict[str, List[Any]]
            for row, _ in fresh:
                cam = cameras.setdefault(row[1], [row[2], row[3], row[4], 0])
                cam[1], cam[2], cam[3] = min(cam[1], row[3]), max(cam[2], row[4]), cam[3] + 1
            cur.executemany(
                "INSERT INTO cameras (camera, site, first_seen, last_seen, events)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (camera) DO UPDATE SET"
                " site = excluded.site, events = cameras.events + excluded.events,"
                " last_seen = CASE WHEN excluded.last_seen > cameras.last_seen"
                " THEN excluded.last_seen ELSE cameras.last_seen END",
                [(camera, site, first, last, count)
                 for camera, (site, first, last, count) in sorted(cameras.items())])
        return [row[0] for row, _ in fresh]

    # --- reads -------------------------------------------------------------------------
    def get(self, event_id: str) -> Optional[Dict[str, Any]]:
        rows = self.db.query(SELECT_EVENT + " WHERE id = ?", (event_id,))
        return row_event(rows[0]) if rows else None

    def reads(self, event_id: str) -> List[Dict[str, Any]]:
        rows = self.db.query("SELECT text, count, confidence, mean_confidence FROM event_reads"
                             " WHERE event_id = ? ORDER BY count DESC, mean_confidence DESC",
                             (event_id,))
        return [{"text": r[0], "count": r[1], "confidence": r[2], "mean_confidence": r[3]}
                for r in rows]

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM events")[0][0])

    def cameras(self) -> List[Dict[str, Any]]:
        rows = self.db.query("SELECT camera, site, first_seen, last_seen, events FROM cameras"
                             " ORDER BY camera")
        return [dict(zip(("camera", "site", "first_seen", "last_seen", "events"), r))
                for r in rows]

    # --- known plates --------------------------------------------------------------------
    def known_plates(self) -> List[Dict[str, Any]]:
        rows = self.db.query("SELECT plate, label, note, created, updated FROM known_plates"
                             " ORDER BY plate")
        return [dict(zip(("plate", "label", "note", "created", "updated"), r)) for r in rows]

    def known_plate(self, plate: str) -> Optional[Dict[str, Any]]:
        rows = self.db.query("SELECT plate, label, note, created, updated FROM known_plates"
                             " WHERE plate = ?", (normalize(plate),))
        return dict(zip(("plate", "label", "note", "created", "updated"), rows[0])) if rows else None

    def put_known_plate(self, plate: str, label: str, note: str = "") -> Dict[str, Any]:
        """Add or replace one known plate (normalised); the label must be allow or deny."""
        key = normalize(plate)
        label = str(label or "").strip().lower()
        if not key:
            raise StoreError("known plate %r has no letters or digits" % (plate,))
        if label not in LABELS:
            raise StoreError("label must be allow or deny, got %r" % (label,))
        now = time.time()
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO known_plates (plate, label, note, created, updated)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (plate) DO UPDATE SET"
                        " label = excluded.label, note = excluded.note, updated = excluded.updated",
                        (key, label, str(note or ""), now, now))
        return self.known_plate(key) or {}

    def delete_known_plate(self, plate: str) -> bool:
        with self.db.transaction() as cur:
            return cur.execute("DELETE FROM known_plates WHERE plate = ?",
                               (normalize(plate),)).rowcount > 0

    # --- evidence bookkeeping (store.evidence purges through these) ----------------------
    def evidence_bytes(self) -> int:
        return int(self.db.query("SELECT COALESCE(SUM(evidence_bytes), 0) FROM events"
                                 " WHERE evidence_bytes > 0")[0][0])

    def clear_pack(self, pack: str) -> int:
        """Forget the evidence of every event whose pictures are in `pack` (it is being
        purged); returns how many events that was."""
        with self.db.transaction() as cur:
            return cur.execute("UPDATE events SET crop_path = NULL, frame_path = NULL,"
                               " evidence_bytes = 0, evidence_pack = NULL"
                               " WHERE evidence_pack = ?", (pack,)).rowcount


def event_row(event: Dict[str, Any], evidence: Evidence) -> List[Any]:
    """The events row of one dispatcher event (the whole event is kept as JSON in body)."""
    try:
        event_id = str(event["id"])
        plate = str(event["plate"])
        camera = str(event["camera"])
    except KeyError as exc:
        raise StoreError("event without %s cannot be stored" % exc) from exc
    body = dict(event)
    body.pop("evidence", None)
    return [event_id, camera, str(event.get("site") or ""),
            float(event.get("first_seen") or 0.0), float(event.get("last_seen") or 0.0),
            float(event.get("emitted") or time.time()), plate, plate_key(plate),
            float(event.get("confidence") or 0.0), str(event.get("region") or ""),
            int(event.get("frames") or 0), int(event.get("reads") or 0),
            json.dumps(event.get("candidates") or []), str(event.get("label") or ""),
            str(event.get("note") or ""), json.dumps(event.get("box") or []),
            str(event.get("best_frame") or ""), evidence.get("crop"), evidence.get("frame"),
            int(evidence.get("bytes") or 0), json.dumps(body, sort_keys=True),
            evidence.get("pack")]


def row_event(row: Sequence[Any]) -> Dict[str, Any]:
    """A SELECT_EVENT row -> the event dict with its current label and evidence paths."""
    event = json.loads(row[0])
    event["label"], event["note"] = row[1], row[2]
    event["crop"], event["frame"] = row[3], row[4]
    event["evidence_bytes"] = int(row[5] or 0)
    return event
