"""Event search: filters (camera, time range, label) and a fuzzy plate that knows look-alikes.

Plates are compared by their look-alike keys (store.lookalike). The database hands over the
candidates through an index: first the events whose key is within one edit of the query's
(``event_keys``: each key and its one-character deletions, B-tree lookups at any size);
only if there are none, those sharing two inner trigrams with it (SQLite's FTS5 trigram
table, PostgreSQL's pg_trgm GIN index: reads wrong in two characters). rapidfuzz ranks the
candidates' texts by similarity, then time (newest first), and only the page's rows are
read whole. Without a plate, the filters alone page by time.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from alpr import defaults
from alpr.errors import StoreError
from store.db import POSTGRES
from store.events import SELECT_EVENT, EventStore, row_event
from store.lookalike import neighbours, plate_key, similarity
from store.timespec import check_window

SELECT_ID_EVENT = SELECT_EVENT.replace("SELECT ", "SELECT id, ", 1)



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
        check_window(self.limit, self.offset, self.since, self.until)
        if self.label and self.label not in ("allow", "deny", "unknown"):
            raise StoreError("label must be allow, deny or unknown, got %r" % (self.label,))
        if self.plate and not plate_key(self.plate):
            raise StoreError("plate %r has no letters or digits" % (self.plate,))
        return self


def search(store: EventStore, query: Query) -> List[Dict[str, Any]]:
    """Matching events, each with `score` (0..101, above 100 for the exact text) when a plate
    is given; ranked by score then time."""
    query.check()
    where, params = _filters(query)
    if not query.plate:
        sql = "%s%s ORDER BY first_seen DESC LIMIT ? OFFSET ?" % (
            SELECT_EVENT, " WHERE " + " AND ".join(where) if where else "")
        return [row_event(r) for r in store.db.query(sql, params + [query.limit, query.offset])]
    # phase 1: ids and texts of the index's candidates, ranked here; phase 2: the page's rows
    ranked = []  # type: List[Tuple[float, float, str]]
    key = plate_key(query.plate)
    found = _neighbours(store, key, where, params) or _candidates(store, key, where, params)
    for event_id, plate, first_seen in set(found):
        score = similarity(query.plate, plate)
        if score >= query.min_score:
            ranked.append((score, float(first_seen or 0.0), event_id))
    ranked.sort(reverse=True)
    page = ranked[query.offset:query.offset + query.limit]
    if not page:
        return []
    rows = store.db.query("%s WHERE id IN (%s)" % (SELECT_ID_EVENT, ", ".join("?" * len(page))),
                          [event_id for _, _, event_id in page])
    by_id = dict((r[0], row_event(r[1:])) for r in rows)
    out = []
    for score, _, event_id in page:
        event = by_id.get(event_id)
        if event is not None:
            event["score"] = round(score, 2)
            out.append(event)
    return out


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


def _neighbours(store: EventStore, key: str, where: List[str], params: List[Any]
                ) -> List[Tuple[str, str, float]]:
    """(id, plate, first_seen) of events whose key is within one edit of `key`."""
    variants = neighbours(key)
    extra = "".join(" AND " + w for w in where)
    sql = ("SELECT e.id, e.plate, e.first_seen FROM event_keys k JOIN events e ON e.id = k.event_id"
           " WHERE k.variant IN (%s)%s LIMIT ?" % (", ".join("?" * len(variants)), extra))
    with store.db.transaction() as cur:
        if store.db.dialect == POSTGRES:  # a table not analysed yet gets a hash join over it all
            cur.execute("SET LOCAL enable_seqscan = off")
        return cur.execute(sql, variants + params + [defaults.SEARCH_CANDIDATES]).fetchall()


def _candidates(store: EventStore, key: str, where: List[str], params: List[Any]
                ) -> List[Tuple[str, str, float]]:
    """(id, plate, first_seen) of rows whose key shares enough inner trigrams with `key`
    (none for keys too short for trigrams)."""
    limit = defaults.SEARCH_CANDIDATES
    extra = "".join(" AND " + w for w in where)
    head = "SELECT id, plate, first_seen FROM events"
    if len(key) < 3:
        return []
    grams = sorted(set(key[i:i + 3] for i in range(len(key) - 2)))
    # one wrong character spoils at most 3 trigrams: a 7+ character key keeps 2 (a shorter
    # one, 1); requiring them keeps the candidates few however large the table grows
    need = min(len(grams), 2 if len(key) >= 7 else 1)
    # patterns are literals: keys are [0-9A-Z] only (see below for why not parameters)
    pattern = "'%%%%%s%%%%'" if store.db.dialect == POSTGRES else "'%%%s%%'"
    hits = " + ".join("(CASE WHEN plate_key LIKE %s THEN 1 ELSE 0 END)" % (pattern % g)
                      for g in grams)
    shared = " AND (%s) >= %d" % (hits, need) if need > 1 else ""
    if store.db.dialect == POSTGRES:
        # LIKE '%abc%' uses the pg_trgm GIN index with the inner trigram only (no padded
        # start/end trigrams, which every plate starting with the same letter shares). As
        # literals, and with sequential scans off: a prepared statement's generic plan, or a
        # table not analysed yet, would guess LIKE's selectivity and scan the whole table
        match = " OR ".join("plate_key LIKE %s" % (pattern % g) for g in grams)
        with store.db.transaction() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            return cur.execute("%s WHERE (%s)%s%s LIMIT ?" % (head, match, shared, extra),
                               params + [limit]).fetchall()
    match = " OR ".join('"%s"' % g for g in grams)  # FTS5 trigram phrases
    return store.db.query(
        "%s WHERE rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)%s%s LIMIT ?"
        % (head, shared, extra), [match] + params + [limit])
