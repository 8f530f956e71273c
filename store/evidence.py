"""Evidence: each event's best plate crop and best frame, appended to pack files under one
directory, found through the event's row, purged by age and by a disk quota (oldest pack
first, every purged event counted).

A pack is ``<root>/<yyyy-mm-dd>/<yyyymmddTHHMMSS>-<writer>-<n>.pack``: one writer (a
dispatcher's EvidenceDir) appends the JPEGs of many events to it, and the event's row keeps
each picture's location, ``<pack path>#<offset>+<length>``, and the pack's path, so a purge
clears the rows of one pack in one UPDATE and removes one file. Why packs and not a file per
picture: creating a file is the cost, not writing it. On this machine's ext4 (no journal: it
skips recently freed inodes one by one) a create took 150-850 us of kernel CPU after a purge
had freed files, 2 creates per event, while appending an event's 46 KB to an open pack took
21 us (docs/store.md has the figures). A location without ``#`` is a whole file (rows written
before packs), read as before. The interface (write a batch, read a location, purge a pack)
is what an S3-compatible bucket would implement later: a pack is an object, a location a
ranged GET.
"""
import calendar
import errno
import logging
import os
import re
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alpr.errors import StoreUnavailableError

log = logging.getLogger(__name__)

PACK_BYTES = 64 * 1024 * 1024  # a pack is closed past this size...
PACK_SECONDS = 600.0  # ...or this age, so a purge frees little at a time
QUOTA_PARTS = 16  # with a quota, a pack holds at most 1/16 of it (a purge frees <= that)
MAX_PICTURE = 8 * 1024 * 1024  # a location claiming more than this is refused
SUFFIX = ".pack"
_STAMP = "%Y%m%dT%H%M%S"
_SPAN = re.compile(r"#(\d{1,15})\+(\d{1,9})$")

Items = Sequence[Tuple[Dict[str, Any], Optional[bytes], Optional[bytes]]]


class Pack(object):
    """One pack file: path, creation time (from its name), bytes written or held."""

    def __init__(self, path: str, created: float, size: int = 0, own: bool = False) -> None:
        self.path = path
        self.created = created
        self.size = size
        self.own = own  # made by this writer (others' are learnt from disk)
        self.fd = None  # type: Optional[int]  # open while this writer appends to it


def pack_created(name: str) -> Optional[float]:
    """The creation time a pack's file name carries, or None if it is no pack's name."""
    if not name.endswith(SUFFIX):
        return None
    try:
        return float(calendar.timegm(time.strptime(name.split("-", 1)[0], _STAMP)))
    except ValueError:
        return None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """pwrite until all of `data` is down (near a full disk Linux writes part and says so)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.ENOSPC, "short write")
        view, offset = view[done:], offset + done


class EvidenceDir(object):
    """Evidence packs under `root`, with retention bookkeeping through an EventStore."""

    def __init__(self, root: str, max_age_days: float = 0.0, quota_mb: float = 0.0,
                 clock: Any = time.time) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.max_age_s = float(max_age_days) * 86400.0
        self.quota_bytes = int(float(quota_mb) * 1024 * 1024)
        self.pack_limit = (max(1, min(PACK_BYTES, self.quota_bytes // QUOTA_PARTS))
                           if self.quota_bytes > 0 else PACK_BYTES)
        self.clock = clock
        self.writer = "%s%s" % (uuid.uuid4().hex[:8], os.getpid() % 100)
        self.seq = 0
        self.packs = None  # type: Optional[List[Pack]]  # oldest first, learnt from disk once
        self.current = None  # type: Optional[Pack]
        self.lock = threading.Lock()  # one batch at a time (the API only reads)
        self.stats = {"evidence_written": 0, "evidence_bytes_written": 0,
                      "evidence_failed": 0, "evidence_discarded": 0,
                      "evidence_unnamed_bytes": 0, "purged_age": 0,
                      "purged_quota": 0, "purged_bytes": 0, "packs_purged": 0,
                      "purge_failed": 0}

    # --- writes ----------------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Bytes the packs hold on disk (what the quota counts)."""
        return sum(p.size for p in self._packs())

    def put(self, event: Dict[str, Any], crop: Optional[bytes], frame: Optional[bytes]
            ) -> Dict[str, Any]:
        return self.put_many([(event, crop, frame)])[0]

    def put_many(self, items: Items) -> List[Dict[str, Any]]:
        """Append each (event, crop, frame) to the current pack; answers in order, each
        {'crop': location, 'frame': location, 'bytes': n, 'pack': path}. A write the disk
        refused answers no locations (the event is then stored without pictures)."""
        with self.lock:
            return [self._append(crop, frame) for _, crop, frame in items]

    def _append(self, crop: Optional[bytes], frame: Optional[bytes]) -> Dict[str, Any]:
        out = {"crop": None, "frame": None, "bytes": 0, "pack": None}  # type: Dict[str, Any]
        data = (crop or b"") + (frame or b"")
        if not data:
            return out
        try:
            pack = self._writable()
            offset = pack.size
            pack.size += len(data)  # a failed write leaves a hole, never a misplaced picture
            _pwrite_all(pack.fd, data, offset)
        except OSError as exc:  # disk full or gone: the event is stored without pictures
            self.stats["evidence_failed"] += 1
            if self.current is not None:  # the hole its bytes left in the pack
                self.stats["evidence_unnamed_bytes"] += len(data)
            log.warning("evidence not written under %s: %s", self.root, exc)
            self._close_current()
            return out
        for kind, part in (("crop", crop), ("frame", frame)):
            if part:
                out[kind] = "%s#%d+%d" % (pack.path, offset, len(part))
                offset += len(part)
        out["bytes"], out["pack"] = len(data), pack.path
        return out

    def _writable(self) -> Pack:
        now = self.clock()
        pack = self.current
        if pack is not None and (pack.size >= self.pack_limit or now - pack.created >= PACK_SECONDS
                                 or time.gmtime(now)[:3] != time.gmtime(pack.created)[:3]):
            self._close_current()
            pack = None
        if pack is None:
            packs = self._rescan()  # others' packs made or purged since, before our own
            self.seq += 1
            folder = os.path.join(self.root, time.strftime("%Y-%m-%d", time.gmtime(now)))
            name = "%s-%s-%d%s" % (time.strftime(_STAMP, time.gmtime(now)), self.writer,
                                   self.seq, SUFFIX)
            pack = Pack(os.path.join(folder, name), float(int(now)), own=True)
            for last_try in (False, True):
                os.makedirs(folder, exist_ok=True)
                try:
                    pack.fd = os.open(pack.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    break
                except FileNotFoundError:  # another dispatcher's purge removed the empty folder
                    if last_try:
                        raise
            packs.append(pack)
            self.current = pack
        return pack

    def _close_current(self) -> None:
        pack, self.current = self.current, None
        if pack is not None and pack.fd is not None:
            os.close(pack.fd)
            pack.fd = None

    def held_packs(self) -> set:
        """Paths of the packs this writer knows are on disk (a location in one still reads)."""
        with self.lock:
            return set(p.path for p in self._packs())

    def committed(self, written: Dict[str, Any]) -> None:
        """The event of `written` (put's answer) is stored."""
        if written.get("bytes"):
            self.stats["evidence_written"] += 1
            self.stats["evidence_bytes_written"] += written["bytes"]

    def discard(self, written: Dict[str, Any]) -> None:
        """The pictures of `written` will be named by no row (a replayed event keeps its first
        ones; a refused one's retry never came): they stay in the pack until it is purged."""
        if written.get("bytes"):
            self.stats["evidence_discarded"] += 1
            self.stats["evidence_unnamed_bytes"] += written["bytes"]

    def close(self) -> None:
        with self.lock:
            self._close_current()

    # --- reads -----------------------------------------------------------------------------
    def resolve(self, path: Optional[str]) -> Optional[str]:
        """`path` if it is a file inside this evidence root (never outside it), else None."""
        if not path:
            return None
        real = os.path.realpath(path)
        if not real.startswith(os.path.realpath(self.root) + os.sep) or not os.path.isfile(real):
            return None
        return real

    def read(self, location: Optional[str]) -> Optional[bytes]:
        """The picture at `location` (a row's crop or frame), or None if it is gone, lies
        outside the root or is malformed."""
        if not location:
            return None
        path, span = location, None  # type: str, Optional[Tuple[int, int]]
        match = _SPAN.search(location)
        if match:
            path, span = location[:match.start()], (int(match.group(1)), int(match.group(2)))
        elif path.endswith(SUFFIX):
            return None  # a pack is only ever read by range
        real = self.resolve(path)
        if real is None:
            return None
        start, size = span if span else (0, MAX_PICTURE)
        if not 0 < size <= MAX_PICTURE:
            return None
        try:
            with open(real, "rb") as fh:
                fh.seek(start)
                data = fh.read(size)
        except OSError:
            return None
        return data if span is None or len(data) == size else None

    # --- retention -------------------------------------------------------------------------
    def _packs(self) -> List[Pack]:
        """The packs on disk and this writer's, oldest first (learnt from disk once)."""
        if self.packs is None:
            self.packs = self._scan()
        return self.packs

    def _rescan(self) -> List[Pack]:
        """Merge the packs on disk into the list: others' new ones join, purged ones leave
        (a writer rescans each time it opens a pack, every PACK_SECONDS at most)."""
        if self.packs is None:
            return self._packs()
        on_disk = {p.path: p for p in self._scan()}
        merged = [p for p in self.packs if p.own or p.path in on_disk]
        paths = set(p.path for p in merged)
        merged += [p for path, p in on_disk.items() if path not in paths]
        merged.sort(key=lambda p: (p.created, p.path))
        self.packs = merged
        return merged

    def _scan(self) -> List[Pack]:
        found = []
        if os.path.isdir(self.root):
            for day in sorted(os.listdir(self.root)):
                folder = os.path.join(self.root, day)
                if not os.path.isdir(folder):
                    continue
                for entry in os.scandir(folder):
                    created = pack_created(entry.name)
                    if created is not None and entry.is_file():
                        found.append(Pack(entry.path, created, entry.stat().st_size))
        found.sort(key=lambda p: (p.created, p.path))
        return found

    def enforce(self, store: Any, incoming: int = 0) -> int:
        """Purge packs past the age, then oldest first until the quota holds `incoming` more
        bytes; returns how many events lost their evidence."""
        with self.lock:
            try:
                purged = 0
                now = self.clock()
                packs = self._packs()
                if self.max_age_s > 0:
                    while packs and packs[0].created + PACK_SECONDS <= now - self.max_age_s:
                        purged += self._purge(store, packs[0], "purged_age")
                while self.quota_bytes > 0 and self.total + incoming > self.quota_bytes:
                    # another dispatcher appends to its pack for up to PACK_SECONDS and then
                    # commits the rows that name it: leave it alone for twice that
                    oldest = next((p for p in packs
                                   if p.own or now - p.created >= 2 * PACK_SECONDS), None)
                    if oldest is None:
                        break
                    purged += self._purge(store, oldest, "purged_quota")
                return purged
            except StoreUnavailableError:
                raise
            except OSError as exc:
                log.warning("evidence retention failed: %s", exc)
                return 0

    def _purge(self, store: Any, pack: Pack, counter: str) -> int:
        """Clear the rows that name `pack` (the events stay, without pictures), then remove
        it: a crash between the two leaves a pack no row names, never a row without its pack."""
        if pack is self.current:
            self._close_current()
        cleared = store.clear_pack(pack.path)
        self.packs.remove(pack)  # whatever the disk says next: retention must go on
        freed = pack.size
        try:
            os.remove(pack.path)
        except FileNotFoundError:  # another dispatcher purged it first
            freed = 0
        except OSError as exc:  # its rows are cleared; the file is left for the operator
            self.stats["purge_failed"] += 1
            log.warning("evidence pack %s not removed: %s", pack.path, exc)
        try:
            os.rmdir(os.path.dirname(pack.path))  # the day's folder, once empty
        except OSError:
            pass
        self.stats[counter] += cleared
        self.stats["purged_bytes"] += freed
        self.stats["packs_purged"] += 1 if freed else 0
        if cleared:
            log.info("evidence retention: %d events purged with %s (%s)", cleared,
                     os.path.basename(pack.path), counter)
        return cleared
