"""Event search: filters (camera, time range, label) and a fuzzy plate that knows look-alikes.

The database narrows the candidates with an index over the folded key (store.lookalike):
SQLite's FTS5 trigram table, PostgreSQL's pg_trgm GIN index; rapidfuzz ranks what comes
back by similarity, then time (newest first). Without a plate, filters alone page by time.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from alpr import defaults
from alpr.errors import StoreError
from store.db import POSTGRES
from store.events import SELECT_EVENT, EventStore, row_event
from store.lookalike import plate_key, similarity

PG_TRGM_LIMIT = 0.3  # pg_trgm similarity the index pre-filter keeps (one wrong char of 7 scores ~0.5)


@dataclass
class Query:
    """One search: every field optional; limit/offset page the ranked result."""

    plate: str = ""
    camera: str = ""
    since: Optional[float] = None
    until: Optional[float] = None
    label: str = ""
    limit: int = defaults.SEARCH_LIMIT
    offset: int = 0
    min_score: float = defaults.SEARCH_MIN_SCORE

    def check(self) -> "Query":
        if not 1 <= int(self.limit) <= defaults.SEARCH_MAX_LIMIT:
            raise StoreError("limit must be 1..%d, got %r" % (defaults.SEARCH_MAX_LIMIT, self.limit))
        if int(self.offset) < 0:
            raise StoreError("offset must be >= 0, got %r" % (self.offset,))
        if self.since is not None and self.until is not None and self.since > self.until:
            raise StoreError("since is after until")
        if self.label and self.label not in ("allow", "deny", "unknown"):
            raise StoreError("label must be allow, deny or unknown, got %r" % (self.label,))
        if self.plate and not plate_key(self.plate):
            raise StoreError("plate %r has no letters or digits" % (self.plate,))
        return self


def search(store: EventStore, query: Query) -> List[Dict[str, Any]]:
    """Matching events, each with `score` (0..100, 100+ for the exact text) when a plate is
    given; ranked by score then time."""
    query.check()
    where, params = _filters(query)
    if not query.plate:
        sql = "%s%s ORDER BY first_seen DESC LIMIT ? OFFSET ?" % (
            SELECT_EVENT, " WHERE " + " AND ".join(where) if where else "")
        return [row_event(r) for r in store.db.query(sql, params + [query.limit, query.offset])]
    key = plate_key(query.plate)
    rows = _candidates(store, key, where, params)
    ranked = []  # type: List[Tuple[float, float, Dict[str, Any]]]
    for row in rows:
        event = row_event(row)
        score = similarity(query.plate, event["plate"])
        if score >= query.min_score:
            event["score"] = round(score, 2)
            ranked.append((score, float(event.get("first_seen") or 0.0), event))
    ranked.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [e for _, _, e in ranked[query.offset:query.offset + query.limit]]


def _filters(query: Query) -> Tuple[List[str], List[Any]]:
    where, params = [], []  # type: List[str], List[Any]
    if query.camera:
        where.append("camera = ?")
        params.append(query.camera)
    if query.since is not None:
        where.append("first_seen >= ?")
        params.append(float(query.since))
    if query.until is not None:
        where.append("first_seen <= ?")
        params.append(float(query.until))
    if query.label:
        where.append("label = ?")
        params.append("" if query.label == "unknown" else query.label)
    return where, params


def _candidates(store: EventStore, key: str, where: List[str], params: List[Any]) -> List[Any]:
    """Rows whose key shares enough trigrams with `key` (or the same key, for short ones)."""
    limit = defaults.SEARCH_CANDIDATES
    extra = "".join(" AND " + w for w in where)
    if len(key) < 3:  # too short for trigrams: same key, or keys starting with it
        return store.db.query("%s WHERE (plate_key = ? OR plate_key LIKE ?)%s LIMIT ?"
                              % (SELECT_EVENT, extra), [key, key + "_%"] + params + [limit])
    if store.db.dialect == POSTGRES:
        with store.db.transaction() as cur:
            cur.execute("SELECT set_config('pg_trgm.similarity_threshold', ?, true)",
                        (str(PG_TRGM_LIMIT),))
            return cur.execute("%s WHERE plate_key %%%% ?%s LIMIT ?" % (SELECT_EVENT, extra),
                               [key] + params + [limit]).fetchall()
    grams = sorted(set(key[i:i + 3] for i in range(len(key) - 2)))
    match = " OR ".join('"%s"' % g for g in grams)  # keys are [0-9A-Z]: nothing to escape
    return store.db.query(
        "%s WHERE rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ? LIMIT ?)%s"
        % (SELECT_EVENT, extra), [match, limit * 4] + params)
