"""The dispatcher loop: results -> recent cache + vehicle groups -> plate events (+ webhooks).

One process. Each step reads a batch of result entries, groups the reads, emits the
groups whose vehicle has left and acks what is fully used. On shutdown every open group
is emitted, so nothing is lost. The fleet watch (reaper) is not in this loop: it has its
own (dispatcher.watch_loop), which `alpr dispatch` runs on a thread by default.
"""
import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from alpr.errors import FrameDecodeError
from alpr.keys import Keys
from alpr.protocol import STATUS_READ, decode_result, join_evidence
from dispatcher.consumer import ResultsConsumer
from dispatcher.grouping import Deduper, Grouper, PlateGroup
from dispatcher.known_plates import KnownPlates
from dispatcher.recent import RecentCache
from dispatcher.webhooks import WebhookSender

log = logging.getLogger(__name__)

EventFn = Callable[[Dict[str, Any]], Any]


class Dispatcher(object):
    """Wires the consumer, grouping, dedup, recent cache, known plates and webhooks."""

    def __init__(self, redis: Any, keys: Keys, consumer: ResultsConsumer, grouper: Grouper,
                 deduper: Deduper, recent: RecentCache, known: Optional[KnownPlates] = None,
                 webhooks: Optional[WebhookSender] = None,
                 events_maxlen: int = 100000, on_event: Optional[EventFn] = None,
                 clock: Callable[[], float] = time.time, sink: Any = None,
                 outputs: Sequence[Any] = (), stats_every_s: float = 0.0) -> None:
        self.redis = redis
        self.keys = keys
        self.consumer = consumer
        self.grouper = grouper
        self.deduper = deduper
        self.recent = recent
        # `is None`, not `or`: an empty list may follow the store (plates added later)
        self.known = known if known is not None else KnownPlates()
        self.webhooks = webhooks
        self.events_maxlen = int(events_maxlen)
        self.on_event = on_event
        self.clock = clock
        self.sink = sink  # the event store (store.sink.StoreSink): written before the ack
        self.unstored = []  # type: List[PlateGroup]  # closed while the store was down
        self.stats = {"entries": 0, "malformed": 0, "reads": 0, "events": 0, "suppressed": 0}
        # after an event is stored and streamed: MQTT, alert rules (event / tick / all_stats)
        self.outputs = list(outputs)
        self.stats_every_s = float(stats_every_s)  # 0 = counters not written to Redis
        self.next_stats = 0.0

    def start(self) -> None:
        """Create the consumer group and preload the dedup table from recent events."""
        self.consumer.ensure_group()
        self.preload_dedup()

    def preload_dedup(self) -> int:
        """Re-learn events emitted within the dedup window (a restart re-emits no duplicates)."""
        since_ms = int((self.clock() - 2 * self.deduper.window_s) * 1000)
        count = 0
        for _entry_id, fields in self.redis.xrange(self.keys.events, min="%d-0" % max(0, since_ms)):
            try:
                event = json.loads(_field(fields, "event"))
                self.deduper.remember(event)
                count += 1
            except (TypeError, ValueError, KeyError):
                continue
        return count

    def step(self) -> int:
        """Read and process one batch; emit idle groups. Returns entries processed."""
        entries = self.consumer.read(held=self.held_entries())
        now = self.clock()
        ack = []  # type: List[str]
        seen = {}  # type: Dict[str, List[Tuple[str, float]]]
        evidence = self._fetch_evidence(entries)
        for entry_id, fields in entries:
            if not self._process(entry_id, fields, now, seen, evidence.get(entry_id)):
                ack.append(entry_id)
        self.recent.touch_many(seen, now=now)
        self.consumer.ack(ack)
        self.emit(self.grouper.close_idle(self.clock()))
        self.consumer.keepalive(self.held_entries())
        self.tick_outputs()
        return len(entries)

    def tick_outputs(self) -> None:
        """Let each output do its periodic work; write the counters for `alpr status`."""
        for output in self.outputs:
            try:
                output.tick()
            except Exception as exc:  # noqa: BLE001 - an output never stops the event loop
                self.stats["output_errors"] = self.stats.get("output_errors", 0) + 1
                log.warning("output %s tick failed: %s", type(output).__name__, exc)
        now = time.monotonic()
        if self.stats_every_s > 0 and now >= self.next_stats:
            self.next_stats = now + self.stats_every_s
            stats = dict((k, v) for k, v in self.all_stats().items()
                         if isinstance(v, (int, float)))
            stats["updated"] = time.time()
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(self.keys.dispatcher_stats)
            pipe.hset(self.keys.dispatcher_stats, mapping=stats)
            pipe.execute()

    def all_stats(self) -> Dict[str, Any]:
        """The loop's counters with every output's (mqtt_*, alerts_*)."""
        stats = dict(self.stats)
        for output in self.outputs:
            stats.update(output.all_stats())
        return stats

    def _fetch_evidence(self, entries: List[Any]) -> Dict[str, Any]:
        """entry id -> evidence:{frame} value, for entries whose evidence is apart (one MGET;
        only with a store: nothing else keeps pictures)."""
        if self.sink is None:
            return {}
        wanted = []  # type: List[Tuple[str, str]]
        for entry_id, fields in entries:
            frame = (fields or {}).get(b"ev", (fields or {}).get("ev"))
            if frame:
                wanted.append((entry_id, frame.decode("utf-8", "replace")
                               if isinstance(frame, bytes) else str(frame)))
        if not wanted:
            return {}
        values = self.redis.mget([self.keys.evidence(f) for _, f in wanted])
        self.stats["evidence_expired"] = self.stats.get("evidence_expired", 0) + sum(
            1 for v in values if v is None)
        return dict((e, v) for (e, _), v in zip(wanted, values) if v is not None)

    def _process(self, entry_id: str, fields: Any, now: float,
                 seen: Dict[str, List[Tuple[str, float]]], evidence: Any = None) -> bool:
        """Use one entry; True if an open group now holds it (ack later), False to ack now."""
        self.stats["entries"] += 1
        try:
            if fields is None:
                raise FrameDecodeError("entry was trimmed from the stream")
            record = decode_result(fields)
        except FrameDecodeError as exc:
            self.stats["malformed"] += 1
            log.warning("malformed result entry %s acked and skipped: %s", entry_id, exc)
            return False
        if record.status != STATUS_READ or not record.reads:
            return False
        if evidence is not None:
            join_evidence(record, evidence)
        if record.frame_jpeg:  # the frame rides with its reads into the groups (evidence)
            for read in record.reads:
                read["frame_jpeg"] = record.frame_jpeg
                read["frame_scale"] = record.frame_scale  # the console draws the box on it
        self.stats["reads"] += len(record.reads)
        seen_ts = record.ts or now
        seen.setdefault(record.camera, []).extend(
            (str(r.get("text") or ""), seen_ts) for r in record.reads)
        touched = self.grouper.add_frame(record.camera, record.site, record.frame_id, seen_ts,
                                         record.reads, now=now, truth=record.truth, entry=entry_id)
        return bool(touched)

    def emit(self, groups: List[PlateGroup]) -> List[Dict[str, Any]]:
        """Turn closed groups into events (or dedup extensions), XADD them, ack their entries."""
        events = []  # type: List[Dict[str, Any]]
        made = []  # type: List[PlateGroup]  # the groups behind `events`, in order
        if self.sink is not None:
            groups, self.unstored = self.unstored + list(groups), []
            if groups and not self.sink.ready():  # backing off: keep them, entries pending
                self.unstored = groups
                return events
        if not groups:
            return events
        pipe = self.redis.pipeline(transaction=True)
        # the dedup table keeps these events only once their XADD is done: if the write
        # fails, the entries stay pending, are claimed again, regroup and are emitted then
        # (recorded first, they would be suppressed as repeats of an event never written)
        saved = self.deduper.snapshot()
        for group in groups:
            summary = group.summary()
            previous = self.deduper.check(summary)
            if previous is not None:
                self.stats["suppressed"] += 1
                log.debug("plate %s on %s repeats event %s", summary["plate"], summary["camera"],
                          previous.get("id"))
                continue
            event = self.known.annotate(summary)
            event["id"] = group.event_id
            event["emitted"] = self.clock()
            self.deduper.remember(dict(event))  # a copy: dedup edits it, webhooks read the event
            pipe.xadd(self.keys.events,
                      {"event": json.dumps(event, sort_keys=True), "plate": event["plate"],
                       "camera": event["camera"], "label": event["label"]},
                      maxlen=self.events_maxlen, approximate=True)
            events.append(event)
            made.append(group)
        if self.sink is not None and events and not self._store(events, made, groups):
            return []
        held = self.grouper.held_entries()
        done = sorted(set(e for g in groups for e in g.entries) - held)
        if done:
            pipe.xack(self.consumer.stream, self.consumer.group, *done)
        try:
            pipe.execute()
        except Exception:
            self.deduper.restore(saved)
            self.stats["emit_failed"] = self.stats.get("emit_failed", 0) + 1
            raise
        self.stats["events"] += len(events)
        for event, group in zip(events, made):
            if self.webhooks is not None:
                self.webhooks.submit(event)
            if self.on_event is not None:
                self.on_event(event)
            # which pictures the store now holds (the console links them)
            kept = tuple(k for k, v in sorted(group.evidence().items())
                         if k in ("crop", "frame") and v) \
                if self.sink is not None and self.outputs else ()
            for output in self.outputs:
                try:
                    output.event(event, kept)
                except Exception as exc:  # noqa: BLE001 - the event is stored and streamed
                    self.stats["output_errors"] = self.stats.get("output_errors", 0) + 1
                    log.exception("output %s failed on event %s: %s", type(output).__name__,
                                  event.get("id"), exc)
        return events

    def held_entries(self) -> set:
        """Entries not to ack or let be claimed: in open groups, or in groups not yet stored."""
        held = self.grouper.held_entries()
        for group in self.unstored:
            held.update(group.entries)
        return held

    def _store(self, events: List[Dict[str, Any]], made: List[PlateGroup],
               groups: List[PlateGroup]) -> bool:
        """Write the events to the store before anything is acked; False (groups kept for
        the next try, entries pending) when the database is down."""
        from alpr.errors import StoreError, StoreUnavailableError

        try:
            self.sink.write([(e, g.evidence()) for e, g in zip(events, made)])
        except StoreUnavailableError:
            for event in events:
                self.deduper.forget(event)
            self.unstored = groups
            self.stats["store_retries"] = self.stats.get("store_retries", 0) + 1
            return False
        except StoreError as exc:  # never storable (a bug): the events still go out, counted
            self.stats["store_failed"] = self.stats.get("store_failed", 0) + len(events)
            log.error("events not stored: %s", exc)
        return True

    def flush(self) -> List[Dict[str, Any]]:
        """Emit every open group now (graceful shutdown); the store gets one last try."""
        if self.sink is not None:
            self.sink.retry_now()
        return self.emit(self.grouper.close_all())

    def run(self, should_stop: Callable[[], bool], retry: Any) -> None:
        """Step until `should_stop()`; Redis outages are retried with backoff; then flush."""
        try:
            retry.call(self.start)
            while not should_stop():
                retry.call(self._safe_step)
        except Exception as exc:
            if not (should_stop() and _is_redis_error(exc)):
                raise
            log.warning("stopping while Redis is unreachable: %s", exc)
            return
        try:
            retry.call(self.flush)
        except Exception as exc:  # noqa: BLE001 - shutting down anyway; entries stay pending
            log.warning("could not flush open groups at shutdown (%s); they stay pending", exc)

    def _safe_step(self) -> int:
        try:
            return self.step()
        except Exception as exc:
            if _is_redis_error(exc):
                raise
            # a bug or a surprise must not kill the fleet's only event source
            self.stats["errors"] = self.stats.get("errors", 0) + 1
            log.exception("dispatcher step failed: %s", exc)
            time.sleep(0.5)
            return 0


def _field(fields: Dict[Any, Any], name: str) -> Any:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        raise KeyError(name)
    return value.decode() if isinstance(value, bytes) else value


def _is_redis_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                            ConnectionError, TimeoutError))
