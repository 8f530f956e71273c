"""The dispatcher's hook into the store: write a batch of events (and their evidence) before
their results are acked, or say the database is down so they stay pending in Redis.

The dispatcher calls `ready()` before emitting and `write()` before its XADD/XACK; a
StoreUnavailableError from `write` makes it keep the groups and try again after a backoff
that grows to STORE_RETRY_CAP_S (catch-up starts within that of the database coming back).
"""
import logging
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alpr import defaults
from alpr.errors import StoreUnavailableError
from store.events import EventStore
from store.evidence import EvidenceDir

log = logging.getLogger(__name__)


class StoreSink(object):
    """EventStore + EvidenceDir behind the two calls the dispatcher makes."""

    def __init__(self, store: EventStore, evidence: Optional[EvidenceDir] = None,
                 retry_base_s: float = defaults.STORE_RETRY_BASE_S,
                 retry_cap_s: float = defaults.STORE_RETRY_CAP_S,
                 clock: Any = time.monotonic, migrated: bool = True) -> None:
        self.store = store
        self.migrated = migrated  # False: the database was down at start; migrate on first write
        self.evidence = evidence
        self.retry_base_s = float(retry_base_s)
        self.retry_cap_s = float(retry_cap_s)
        self.clock = clock
        self.failures = 0
        self.next_try = 0.0
        self.stats = {"stored": 0, "store_duplicates": 0, "store_unavailable": 0}
        # pictures appended for events the database refused: the retry names them again
        # instead of appending another copy each try (a long outage would fill the quota)
        self.unstored = {}  # type: Dict[str, Dict[str, Any]]

    def ready(self) -> bool:
        """False while backing off after a failure (the dispatcher keeps its groups)."""
        return self.clock() >= self.next_try

    def retry_now(self) -> None:
        """Skip the rest of the backoff (shutdown: one last try before entries stay pending)."""
        self.next_try = 0.0

    def write(self, items: Sequence[Tuple[Dict[str, Any], Dict[str, Any]]]) -> int:
        """Store events with their evidence ({'crop': bytes, 'frame': bytes}); returns how
        many were new. Raises StoreUnavailableError (and backs off) if the database is down."""
        try:
            if not self.migrated:
                from store.migrations import migrate

                migrate(self.store.db)
                self.migrated = True
            if self.evidence is not None:
                incoming = sum(len(e.get("crop") or b"") + len(e.get("frame") or b"")
                               for _, e in items)
                self.evidence.enforce(self.store, incoming)
                stored = self._pictures(items)
            else:
                stored = [(event, {}) for event, _ in items]
            try:
                new = set(self.store.write_events(stored))
            except Exception:
                for event, got in stored:
                    if got.get("bytes"):
                        self.unstored[str(event["id"])] = got
                raise
        except StoreUnavailableError as exc:
            self.failures += 1
            self.stats["store_unavailable"] += 1
            wait = min(self.retry_cap_s, self.retry_base_s * (2 ** min(self.failures - 1, 10)))
            self.next_try = self.clock() + wait
            log.warning("event store unavailable (%s); %d events stay pending, next try in %.1f s",
                        exc, len(items), wait)
            raise
        if self.failures:
            log.info("event store is back after %d failed tries", self.failures)
        self.failures, self.next_try = 0, 0.0
        if self.evidence is not None:
            for event, written in stored:
                self.unstored.pop(str(event["id"]), None)
                if event["id"] in new:
                    self.evidence.committed(written)
                else:  # a replayed event keeps its first pictures; this copy is named by no row
                    self.evidence.discard(written)
        self.stats["stored"] += len(new)
        self.stats["store_duplicates"] += len(items) - len(new)
        return len(new)

    def _pictures(self, items: Sequence[Tuple[Dict[str, Any], Dict[str, Any]]]
                  ) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
        """Each event with its pictures' locations: those a refused try appended (their pack
        still there), else appended now."""
        held = self.evidence.held_packs() if self.unstored else set()  # (only after a refusal)
        kept = [self.unstored.get(str(event["id"])) for event, _ in items]
        kept = [k if k is not None and k.get("pack") in held else None for k in kept]
        fresh = iter(self.evidence.put_many([
            (event, ev.get("crop"), ev.get("frame"))
            for (event, ev), k in zip(items, kept) if k is None]))
        return [(event, k if k is not None else next(fresh))
                for (event, _), k in zip(items, kept)]

    def known_plates(self) -> List[Dict[str, Any]]:
        """The store's known plates (the dispatcher merges them into its labels)."""
        if not self.ready() or not self.migrated:
            raise StoreUnavailableError("event store is backing off")
        return self.store.known_plates()

    def all_stats(self) -> Dict[str, int]:
        out = dict(self.stats)
        if self.evidence is not None:
            out.update(self.evidence.stats)
        return out

    def close(self) -> None:
        if self.evidence is not None:
            for written in self.unstored.values():  # left in the packs, named by no row
                self.evidence.discard(written)
            self.unstored.clear()
            self.evidence.close()
        self.store.close()


def evidence_root(settings: Any) -> str:
    """The evidence directory settings name (default <data_dir>/evidence)."""
    import os

    return os.path.expanduser(settings.evidence_dir or os.path.join(settings.data_dir, "evidence"))


def build_sink(settings: Any) -> Optional[StoreSink]:
    """A StoreSink from settings (None when no --db is set). The schema is migrated now; a
    database that is down at start is retried by the dispatcher like any later outage."""
    from store import open_store
    from store.db import open_db

    if not settings.db:
        return None
    evidence = EvidenceDir(evidence_root(settings), settings.evidence_max_age_days,
                           settings.evidence_quota_mb)
    try:
        return StoreSink(open_store(settings.db), evidence)
    except StoreUnavailableError as exc:
        log.warning("event store not reachable at start (%s); migrating when it is", exc)
        return StoreSink(EventStore(open_db(settings.db)), evidence, migrated=False)
