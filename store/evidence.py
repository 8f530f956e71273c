"""Evidence files: each event's best plate crop and best frame, under one directory, named by
event id, purged by age and by a disk quota (oldest first, every purge counted).

Files live at ``<root>/<yyyy-mm-dd>/<event id, escaped>.crop.jpg`` (and ``.frame.jpg``); the
database keeps each event's paths and byte count, so retention walks the events table
oldest first instead of the file tree. The interface (put / open / delete by location) is
what an S3-compatible bucket would implement later.
"""
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from alpr.errors import StoreError, StoreUnavailableError

log = logging.getLogger(__name__)

NAMES = {"crop": ".crop.jpg", "frame": ".frame.jpg"}  # after the escaped event id
PURGE_BATCH = 500  # events cleared per retention round trip
AGE_CHECK_S = 60.0  # purge by age at most this often (the quota is checked on every write)
WRITERS = 4  # threads writing a batch's files: creating a file waits on the disk, not the CPU
# (2,000 events' crop + frame here: 1,000-1,700/s from one thread, 2,900-3,900/s from 2-4)


def escape_id(event_id: str) -> str:
    """An event id as one safe path component: no '/', no '..', nothing but [A-Za-z0-9_%-]."""
    escaped = quote(str(event_id), safe="-_").replace(".", "%2E")
    if not escaped or len(escaped) > 240:
        raise StoreError("event id %r cannot name an evidence directory" % (event_id,))
    return escaped


class PendingWrites(object):
    """Evidence writes in progress: `planned` locations now, `wait()` for the outcome."""

    def __init__(self, planned: List[Dict[str, Any]],
                 wait: Callable[[], List[Dict[str, Any]]]) -> None:
        self.planned = planned
        self._wait = wait

    def wait(self) -> List[Dict[str, Any]]:
        return self._wait()


class EvidenceDir(object):
    """Evidence files under `root`, with retention bookkeeping through an EventStore."""

    def __init__(self, root: str, max_age_days: float = 0.0, quota_mb: float = 0.0,
                 clock: Any = time.time) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.max_age_s = float(max_age_days) * 86400.0
        self.quota_bytes = int(float(quota_mb) * 1024 * 1024)
        self.clock = clock
        self.total = None  # type: Optional[int]  # bytes held, learnt from the store once
        self.next_age_check = 0.0
        self.made_dirs = set()  # type: set  # day directories known to exist
        self.lock = threading.Lock()  # stats and made_dirs, written from the writer threads
        self.pool = None  # type: Any
        self.stats = {"evidence_written": 0, "evidence_bytes_written": 0,
                      "evidence_failed": 0, "purged_age": 0, "purged_quota": 0,
                      "purged_bytes": 0}

    def put_many(self, items: Sequence[Tuple[Dict[str, Any], Optional[bytes], Optional[bytes]]]
                 ) -> List[Dict[str, Any]]:
        """`put` for each (event, crop, frame), on WRITERS threads; answers in order."""
        return self.start_many(items).wait()

    def start_many(self, items: Sequence[Tuple[Dict[str, Any], Optional[bytes], Optional[bytes]]]
                   ) -> "PendingWrites":
        """Start writing each (event, crop, frame) on WRITERS threads and return at once:
        `.planned` holds the locations the writes will have (the caller stores them while
        the disk works), `.wait()` the answers, with a failed write's locations cleared."""
        planned = [self.plan(*item) for item in items]
        if len(items) < 2:
            done = [self.write(plan, crop, frame) for plan, (_, crop, frame) in zip(planned, items)]
            return PendingWrites(planned, lambda: done)
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="evidence")
        futures = [self.pool.submit(self.write, plan, crop, frame)
                   for plan, (_, crop, frame) in zip(planned, items)]
        return PendingWrites(planned, lambda: [f.result() for f in futures])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def put(self, event: Dict[str, Any], crop: Optional[bytes], frame: Optional[bytes]
            ) -> Dict[str, Any]:
        """Write an event's crop/frame; returns {'crop': path, 'frame': path, 'bytes': n}.
        Rewriting the same event overwrites the same files (idempotent). Counted once the
        event's row is stored (`committed`); `discard` removes them if it is not."""
        return self.write(self.plan(event, crop, frame), crop, frame)

    def plan(self, event: Dict[str, Any], crop: Optional[bytes], frame: Optional[bytes]
             ) -> Dict[str, Any]:
        """Where an event's crop/frame will be written (no disk access): put's answer."""
        out = {"crop": None, "frame": None, "bytes": 0}  # type: Dict[str, Any]
        if not crop and not frame:
            return out
        day = time.strftime("%Y-%m-%d", time.gmtime(float(event.get("first_seen") or
                                                          self.clock())))
        name = escape_id(event["id"])
        for kind, data in (("crop", crop), ("frame", frame)):
            if data:
                out[kind] = os.path.join(self.root, day, name + NAMES[kind])
                out["bytes"] += len(data)
        return out

    def write(self, plan: Dict[str, Any], crop: Optional[bytes], frame: Optional[bytes]
              ) -> Dict[str, Any]:
        """Write the files `plan` names; on a disk error none is left and the answer is empty."""
        if not plan["bytes"]:
            return plan
        folder = os.path.dirname(plan["crop"] or plan["frame"])
        try:
            if folder not in self.made_dirs:
                os.makedirs(folder, exist_ok=True)
                with self.lock:
                    self.made_dirs.add(folder)
            for kind, data in (("crop", crop), ("frame", frame)):
                if data:
                    # no temp file + rename: readers find files through the event's row,
                    # which is committed after this write returns
                    with open(plan[kind], "wb") as fh:
                        fh.write(data)
        except OSError as exc:  # disk full or gone: the event is stored without pictures
            with self.lock:
                self.made_dirs.discard(folder)
                self.stats["evidence_failed"] += 1
            log.warning("evidence %s not written: %s", plan["crop"] or plan["frame"], exc)
            self._remove(plan["crop"], plan["frame"])
            return {"crop": None, "frame": None, "bytes": 0}
        return plan

    def committed(self, written: Dict[str, Any]) -> None:
        """The event of `written` (put's answer) is stored: its bytes now count to the quota."""
        if not written.get("bytes"):
            return
        self.stats["evidence_written"] += 1
        self.stats["evidence_bytes_written"] += written["bytes"]
        if self.total is not None:
            self.total += written["bytes"]

    def discard(self, written: Dict[str, Any]) -> None:
        """Remove files whose event was not stored (the database was down: written again on
        the retry, so no file is left that no row names)."""
        try:
            self._remove(written.get("crop"), written.get("frame"))
        except OSError as exc:
            log.warning("could not remove unstored evidence: %s", exc)

    def resolve(self, path: Optional[str]) -> Optional[str]:
        """`path` if it is a file inside this evidence root (never outside it), else None."""
        if not path:
            return None
        real = os.path.realpath(path)
        if not real.startswith(os.path.realpath(self.root) + os.sep) or not os.path.isfile(real):
            return None
        return real

    def enforce(self, store: Any, incoming: int = 0) -> int:
        """Purge by age, then oldest first until the quota holds `incoming` more bytes;
        returns how many events lost their evidence."""
        try:
            if self.total is None:
                self.total = store.evidence_bytes()
            purged = 0
            now = self.clock()
            if self.max_age_s > 0 and now >= self.next_age_check:
                self.next_age_check = now + AGE_CHECK_S
                purged += self._purge(store, "purged_age", before=now - self.max_age_s)
            if self.quota_bytes > 0 and self.total + incoming > self.quota_bytes:
                purged += self._purge(store, "purged_quota", need=incoming)
            return purged
        except StoreUnavailableError:
            raise
        except OSError as exc:
            log.warning("evidence retention failed: %s", exc)
            return 0

    def _purge(self, store: Any, counter: str, before: Optional[float] = None,
               need: int = 0) -> int:
        purged = 0
        folders = set()  # type: set
        while True:
            if before is None and self.total + need <= self.quota_bytes:
                break
            rows = store.oldest_evidence(PURGE_BATCH, before=before)
            if not rows:
                break
            done = []
            for event_id, crop, frame, size in rows:
                if before is None and self.total + need <= self.quota_bytes:
                    break
                folders |= self._remove(crop, frame)
                self.total = max(0, (self.total or 0) - size)
                self.stats["purged_bytes"] += size
                done.append(event_id)
            store.clear_evidence(done)
            self.stats[counter] += len(done)
            purged += len(done)
            if len(done) < len(rows) or len(rows) < PURGE_BATCH:
                break
        self._prune(folders)
        if purged:
            log.info("evidence retention: %d events purged (%s)", purged, counter)
        return purged

    def _remove(self, *paths: Optional[str]) -> set:
        """Delete evidence files (only inside the root); returns their folders."""
        folders = set()
        for path in paths:
            real = self.resolve(path)
            if real is not None:
                os.remove(real)
                folders.add(os.path.dirname(real))
        return folders

    def _prune(self, folders: set) -> None:
        """Remove day folders the purge emptied."""
        for folder in folders:
            if folder == self.root:
                continue
            try:
                os.rmdir(folder)
                self.made_dirs.discard(folder)
            except OSError:  # not empty yet (the usual case) or already gone
                pass
