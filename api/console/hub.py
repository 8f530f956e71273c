"""One reader of the events, alerts and results streams (XREAD BLOCK), fanned out to every
open Live page.

A thread blocks on Redis and hands each new entry to the pages' asyncio queues, so a
hundred open pages cost one Redis connection and one thread, not a hundred polls. A page
that falls CONSOLE_CLIENT_QUEUE entries behind is dropped (its browser reconnects and is
replayed from its Last-Event-ID). Malformed entries are counted and skipped.
"""
import asyncio
import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from alpr import defaults
from alpr.protocol import as_text

log = logging.getLogger("alpr.console")

#: SSE event name of each stream's entries
KINDS = ("event", "alert", "read")

Message = Dict[str, Any]  # {"kind", "id", "data"}


def entry_key(entry_id: str) -> Tuple[int, int]:
    """A stream id 'ms-seq' as a comparable tuple ((0, 0) for anything else)."""
    try:
        ms, _, seq = str(entry_id).partition("-")
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


class StreamHub(object):
    """XREAD BLOCK on the console's streams in one thread; `subscribe` gives a page a queue."""

    def __init__(self, redis_factory: Callable[[], Any], keys: Any,
                 enrich: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None,
                 block_ms: int = defaults.CONSOLE_SSE_BLOCK_MS,
                 queue_size: int = defaults.CONSOLE_CLIENT_QUEUE) -> None:
        self.redis_factory = redis_factory
        self.streams = {"event": keys.events, "alert": keys.alerts, "read": keys.results}
        self.enrich = enrich or (lambda event: event)
        self.block_ms = int(block_ms)
        self.queue_size = int(queue_size)
        self.clients = {}  # type: Dict[asyncio.Queue, asyncio.AbstractEventLoop]
        self.lock = threading.Lock()
        self.thread = None  # type: Optional[threading.Thread]
        self.stopping = threading.Event()
        self.redis = None  # type: Any
        self.stats = {"entries": 0, "malformed": 0, "dropped_pages": 0, "redis_errors": 0}

    # --- pages ---------------------------------------------------------------------------
    def subscribe(self) -> "asyncio.Queue":
        queue = asyncio.Queue(self.queue_size)  # type: asyncio.Queue
        with self.lock:
            self.clients[queue] = asyncio.get_running_loop()
            if self.thread is None or not self.thread.is_alive():
                self.stopping.clear()
                self.thread = threading.Thread(target=self._run, name="console-hub",
                                               daemon=True)
                self.thread.start()
        return queue

    def unsubscribe(self, queue: "asyncio.Queue") -> None:
        with self.lock:
            self.clients.pop(queue, None)

    def close(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(self.block_ms / 1000.0 + 2.0)

    # --- reads outside the thread (pages opening, reconnecting) ---------------------------
    def client(self) -> Any:
        if self.redis is None:
            self.redis = self.redis_factory()
        return self.redis

    def latest(self, kind: str, count: int) -> Tuple[List[Message], str]:
        """The newest `count` messages of a stream, oldest first, and the stream's last id."""
        rows = self.client().xrevrange(self.streams[kind], count=count)
        last = as_text(rows[0][0]) if rows else "0-0"
        return [m for m in (self.decode(kind, e, f) for e, f in reversed(rows)) if m], last

    def since(self, kind: str, after: str, count: int = defaults.CONSOLE_SSE_REPLAY
              ) -> List[Message]:
        """Messages after the id `after` (a reconnecting page's missed entries)."""
        rows = self.client().xrange(self.streams[kind], min="(" + after, count=count)
        return [m for m in (self.decode(kind, e, f) for e, f in rows) if m]

    # --- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        last = {}  # type: Dict[str, str]  # stream key -> last id read
        kinds = dict((key, kind) for kind, key in self.streams.items())
        while not self.stopping.is_set():
            with self.lock:
                if not self.clients:
                    self.thread = None
                    return
            try:
                redis = self.client()
                if not last:
                    for key in kinds:
                        rows = redis.xrevrange(key, count=1)
                        last[key] = as_text(rows[0][0]) if rows else "0-0"
                    self._publish({"kind": "state", "id": "", "data": {"redis": "up"}})
                replies = redis.xread(dict(last), block=self.block_ms, count=100) or []
            except Exception as exc:  # noqa: BLE001 - Redis down: tell the pages, retry
                self.stats["redis_errors"] += 1
                log.warning("console stream reader: %s: %s", type(exc).__name__, exc)
                self._publish({"kind": "state", "id": "", "data": {"redis": "down"}})
                last.clear()  # re-learn the positions (a flushed or restarted server)
                self.stopping.wait(1.0)
                continue
            for key, entries in replies:
                key = as_text(key)
                for entry_id, fields in entries:
                    last[key] = as_text(entry_id)
                    message = self.decode(kinds[key], entry_id, fields)
                    if message is not None:
                        self._publish(message)

    def _publish(self, message: Message) -> None:
        with self.lock:
            clients = list(self.clients.items())
        for queue, loop in clients:
            loop.call_soon_threadsafe(self._offer, queue, message)

    def _offer(self, queue: "asyncio.Queue", message: Message) -> None:
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:  # a stuck page: drop it; its browser reconnects
            self.stats["dropped_pages"] += 1
            self.unsubscribe(queue)
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)

    # --- entries -> messages ---------------------------------------------------------------
    def decode(self, kind: str, entry_id: Any, fields: Dict[Any, Any]) -> Optional[Message]:
        """One stream entry as a page message; None (counted) when malformed or readless."""
        entry_id = as_text(entry_id)
        try:
            if kind == "event":
                data = self.enrich(json.loads(fields[b"event"]))
            elif kind == "alert":
                data = json.loads(fields[b"json"])
            else:
                data = _reads(fields)
                if data is None:
                    return None
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except Exception as exc:  # noqa: BLE001 - whoever wrote the entry, the page lives on
            self.stats["malformed"] += 1
            log.debug("console skipped %s entry %s: %s", kind, entry_id, exc)
            return None
        self.stats["entries"] += 1
        return {"kind": kind, "id": entry_id, "data": data}


def _reads(fields: Dict[Any, Any]) -> Optional[Dict[str, Any]]:
    """A results-stream entry as {camera, ts, node, reads: [{text, confidence}]} if it read
    a plate, else None (stale, failed and empty frames are not shown live)."""
    if fields.get(b"status") != b"read":
        return None
    from alpr.protocol import decode_result

    from urllib.parse import quote

    record = decode_result(fields)
    apart = bool(fields.get(b"ev"))  # crops at evidence:{id} for the frame's max age
    reads = []
    for index, read in enumerate(record.reads):
        if not read.get("text"):
            continue
        reads.append({"text": str(read.get("text")), "confidence":
                      float(read.get("confidence") or 0.0),
                      "crop": "/live/crop/%s/%d.jpg" % (quote(record.frame_id, safe=""), index)
                      if apart else None})
    if not reads:
        return None
    return {"camera": record.camera, "ts": record.ts or time.time(), "node": record.node,
            "frame": record.frame_id, "reads": reads}
