"""Read the results stream through a consumer group, so a dispatcher restart loses nothing.

An entry stays pending until the dispatcher acks it, which it does only once the entry
has been fully used (for reads: once the vehicle group holding it has been emitted). On
start the consumer re-reads its own pending entries; entries pending on another consumer
for longer than `claim_idle_ms` (a dead dispatcher) are taken over with XAUTOCLAIM. The
entries this process still holds are re-claimed to itself periodically (XCLAIM JUSTID),
which resets their idle time so no other dispatcher steals a long-open group.
"""
import logging
import socket
import time
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from alpr.protocol import as_text

log = logging.getLogger(__name__)

GROUP = "dispatch"  # consumer group name on the results stream
Entry = Tuple[str, Optional[Dict[Any, Any]]]  # (entry id, fields or None if deleted)


def default_consumer_name() -> str:
    """Stable per host, so a restarted dispatcher finds its own pending entries first."""
    return "dispatch-%s" % socket.gethostname()


class ResultsConsumer(object):
    """XREADGROUP / XACK / XAUTOCLAIM on one stream for one consumer."""

    def __init__(self, redis: Any, stream: str, group: str = GROUP, consumer: str = "",
                 batch: int = 256, block_ms: int = 1000, claim_idle_ms: int = 10000) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.batch = int(batch)
        self.block_ms = int(block_ms)
        self.claim_idle_ms = int(claim_idle_ms)
        self._own_pending_done = False
        self._pending_cursor = "0"
        self._next_claim = 0.0
        self._next_keepalive = 0.0
        self.stats = {"read": 0, "claimed": 0, "acked": 0, "group_created": 0}

    def ensure_group(self) -> bool:
        """Create the group (reading from the stream's start) if missing; True if created."""
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except Exception as exc:  # redis.ResponseError; imported lazily by the client
            if "BUSYGROUP" in str(exc):
                return False
            raise
        self.stats["group_created"] += 1
        self._own_pending_done = False
        self._pending_cursor = "0"
        log.info("created consumer group %s on %s", self.group, self.stream)
        return True

    def read(self, held: Optional[Set[str]] = None, now: Optional[float] = None) -> List[Entry]:
        """The next entries to process: own pending first, then claimed, then new ones."""
        now = time.monotonic() if now is None else now
        try:
            if not self._own_pending_done:
                entries = self._xreadgroup(self._pending_cursor, block=False)
                if entries:
                    self._pending_cursor = entries[-1][0]
                    return self._count(entries, "read")
                self._own_pending_done = True
            if now >= self._next_claim:
                self._next_claim = now + self.claim_idle_ms / 2000.0
                claimed = self._autoclaim(held or set())
                if claimed:
                    return self._count(claimed, "claimed")
            return self._count(self._xreadgroup(">", block=True), "read")
        except Exception as exc:
            if "NOGROUP" in str(exc):  # Redis restarted without persistence, or stream deleted
                log.warning("results group vanished (%s); recreating it", exc)
                self.ensure_group()
                return []
            raise

    def ack(self, ids: Iterable[str]) -> int:
        """XACK entries; returns how many were pending."""
        ids = list(ids)
        if not ids:
            return 0
        n = int(self.redis.xack(self.stream, self.group, *ids))
        self.stats["acked"] += n
        return n

    def keepalive(self, held: Iterable[str], now: Optional[float] = None) -> None:
        """Reset the idle time of entries this process still holds, so none is claimed away."""
        now = time.monotonic() if now is None else now
        ids = list(held)
        if not ids or now < self._next_keepalive:
            return
        self._next_keepalive = now + self.claim_idle_ms / 3000.0
        for start in range(0, len(ids), 500):
            self.redis.xclaim(self.stream, self.group, self.consumer, 0,
                              ids[start:start + 500], justid=True)

    def pending_count(self) -> int:
        """Entries delivered to some consumer of the group and not yet acked."""
        try:
            info = self.redis.xpending(self.stream, self.group)
        except Exception:  # noqa: BLE001 - no group yet means nothing pending
            return 0
        return int(info.get("pending", 0)) if isinstance(info, dict) else 0

    def _xreadgroup(self, start: str, block: bool) -> List[Entry]:
        reply = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.batch,
            block=self.block_ms if block else None)
        entries = []  # type: List[Entry]
        for _stream, items in reply or []:
            for entry_id, fields in items:
                entries.append((as_text(entry_id), fields or None))
        return entries

    def _autoclaim(self, held: Set[str]) -> List[Entry]:
        entries = []  # type: List[Entry]
        start = "0-0"
        for _ in range(100):  # bounded walk over the pending list
            reply = self.redis.xautoclaim(self.stream, self.group, self.consumer,
                                          self.claim_idle_ms, start_id=start, count=self.batch)
            start = as_text(reply[0])
            for entry_id, fields in reply[1] or []:
                entry_id = as_text(entry_id)
                if entry_id not in held:
                    entries.append((entry_id, fields or None))
            if start == "0-0" or len(entries) >= self.batch:
                break
        if entries:
            log.warning("claimed %d idle pending results of a dead dispatcher", len(entries))
        return entries

    def _count(self, entries: List[Entry], name: str) -> List[Entry]:
        self.stats[name] += len(entries)
        return entries
