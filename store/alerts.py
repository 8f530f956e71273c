"""Alerts fired by the dispatcher's rules, stored with their events; read back by GET /api/alerts.

A write is idempotent per (rule, event): an event emitted again after a restart stores its
alert once.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from alpr import defaults
from alpr.errors import StoreError
from store.db import Database
from store.timespec import check_window

COLUMNS = ("rule", "event_id", "plate", "camera", "label", "at", "message")


@dataclass
class AlertQuery:
    """Filters of an alert listing; newest first, paged by limit/offset."""

    camera: str = ""
    rule: str = ""
    since: Optional[float] = None
    until: Optional[float] = None
    limit: int = defaults.SEARCH_LIMIT
    offset: int = 0

    def check(self) -> "AlertQuery":
        check_window(self.limit, self.offset, self.since, self.until)
        return self


class AlertStore(object):
    """The alerts table of an event store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, alerts: Sequence[Dict[str, Any]]) -> int:
        """Store alerts (each with ALERT_FIELDS); returns how many were new."""
        rows = [tuple(_value(a, c) for c in COLUMNS) for a in alerts]
        if not rows:
            return 0
        new = 0
        with self.db.transaction() as cur:
            for row in rows:
                new += max(0, cur.execute(
                    "INSERT INTO alerts (%s) VALUES (%s) ON CONFLICT (rule, event_id) DO NOTHING"
                    % (", ".join(COLUMNS), ", ".join("?" * len(COLUMNS))), row).rowcount)
        return new

    def search(self, query: AlertQuery) -> List[Dict[str, Any]]:
        query.check()
        where, params = [], []  # type: List[str], List[Any]
        for column, value in (("camera", query.camera), ("rule", query.rule)):
            if value:
                where.append("%s = ?" % column)
                params.append(value)
        if query.since is not None:
            where.append("at >= ?")
            params.append(float(query.since))
        if query.until is not None:
            where.append("at <= ?")
            params.append(float(query.until))
        sql = "SELECT id, %s FROM alerts%s ORDER BY at DESC, id DESC LIMIT ? OFFSET ?" % (
            ", ".join(COLUMNS), " WHERE " + " AND ".join(where) if where else "")
        rows = self.db.query(sql, params + [int(query.limit), int(query.offset)])
        return [dict(zip(("id",) + COLUMNS, r)) for r in rows]

    def for_event(self, event_id: str) -> List[Dict[str, Any]]:
        rows = self.db.query("SELECT id, %s FROM alerts WHERE event_id = ? ORDER BY at"
                             % ", ".join(COLUMNS), (event_id,))
        return [dict(zip(("id",) + COLUMNS, r)) for r in rows]


def _value(alert: Dict[str, Any], column: str) -> Any:
    if column == "at":
        return float(alert.get("at") or 0.0)
    if column in ("rule", "event_id", "plate", "camera") and not alert.get(column):
        raise StoreError("alert without %s cannot be stored" % column)
    return str(alert.get(column) or "")
