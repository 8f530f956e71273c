"""The dispatcher writes each event to the store before it acks its results: on a real
redis-server with SQLite and a real PostgreSQL server; database outages lose nothing and
store nothing twice."""
import json
import sqlite3
import time
import uuid

import cv2
import numpy as np

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope, ResultRecord
from dispatcher.consumer import ResultsConsumer
from dispatcher.grouping import Deduper, Grouper
from dispatcher.recent import RecentCache
from dispatcher.service import Dispatcher
from store import open_store
from store.db import SqliteDb
from store.events import EventStore
from store.evidence import EvidenceDir
from store.migrations import migrate
from store.sink import StoreSink


class Clock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def jpeg(width, height, value):
    image = np.full((height, width, 3), value, dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def finish(frames, camera, texts, conf=0.9, crop=True):
    """Produce one frame and finish it as a worker does, crops and snapshot attached."""
    frame_id = uuid.uuid4().hex[:12]
    ts = time.time()
    frames.put(FrameEnvelope(frame_id=frame_id, camera=camera, data=b"jpeg", ts=ts,
                             max_age_s=30.0))
    reads = [{"text": t, "confidence": conf, "box": [1, 2, 3, 4], "region": "br"} for t in texts]
    if crop:
        for read in reads:
            read["crop"] = jpeg(40, 12, int(conf * 200))
    frames.finish(ResultRecord(frame_id=frame_id, camera=camera, status="read", ts=ts,
                               reads=reads, frame_jpeg=jpeg(64, 36, 10) if crop else None,
                               frame_scale=0.5))
    return frame_id


def build(redis_client, keys, clock, sink, consumer="d1"):
    consumer = ResultsConsumer(redis_client, keys.results, consumer=consumer, block_ms=10,
                               claim_idle_ms=60000)
    d = Dispatcher(redis_client, keys, consumer, Grouper(3.0, 0.8), Deduper(60.0, 0.8),
                   RecentCache(redis_client, keys, 3600.0), clock=clock, sink=sink)
    d.start()
    return d


def stream_events(redis_client, keys):
    return [json.loads(f[b"event"]) for _, f in redis_client.xrange(keys.events)]


def make_sink(url, root, **kw):
    return StoreSink(open_store(url), EvidenceDir(str(root), **kw), retry_base_s=0.0,
                     retry_cap_s=0.0)


def test_events_are_stored_with_the_best_crop_and_frame_before_the_ack(redis_client, db_url,
                                                                         tmp_path):
    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    clock = Clock()
    sink = make_sink(db_url, tmp_path / "ev")
    d = build(redis_client, keys, clock, sink)
    finish(frames, "cam0", ["ABC1234"], conf=0.95)
    finish(frames, "cam0", ["ABC1234"], conf=0.7)
    finish(frames, "cam0", ["ABC1284"], conf=0.99)  # most confident, but the vote says ABC1234
    finish(frames, "cam1", ["QWE5678"], crop=False)
    d.step()
    clock.now += 10
    d.step()
    events = sink.store.count()
    assert events == 2 and d.consumer.pending_count() == 0
    emitted = [e for e in stream_events(redis_client, keys) if e["camera"] == "cam0"][0]
    stored = sink.store.get(emitted["id"])
    assert stored["plate"] == "ABC1234"
    data = sink.evidence.read(stored["crop"])  # the vote's winner's most confident read's crop
    crop = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape[:2] == (12, 40) and abs(int(crop.mean()) - 190) <= 3
    assert sink.evidence.read(stored["frame"])[:2] == b"\xff\xd8"
    assert stored["evidence_bytes"] > 0
    plain = [e for e in stream_events(redis_client, keys) if e["camera"] == "cam1"][0]
    assert sink.store.get(plain["id"])["crop"] is None
    assert sink.stats["stored"] == 2 and sink.evidence.stats["evidence_written"] == 1


def test_two_vehicles_whose_best_reads_share_a_frame_are_two_stored_events(redis_client,
                                                                         db_url, tmp_path):
    """Two plates seen in one frame only: two groups with the same best frame must not get
    one event id (the store would keep the first and count the second a duplicate)."""
    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    clock = Clock()
    sink = make_sink(db_url, tmp_path / "ev")
    d = build(redis_client, keys, clock, sink)
    finish(frames, "cam0", ["ABC1234", "XYZ9876"])
    d.step()
    clock.now += 10
    d.step()
    events = stream_events(redis_client, keys)
    assert sorted(e["plate"] for e in events) == ["ABC1234", "XYZ9876"]
    assert len(set(e["id"] for e in events)) == 2
    assert sink.store.count() == 2 and sink.stats["store_duplicates"] == 0
    assert sorted(sink.store.get(e["id"])["plate"] for e in events) == ["ABC1234", "XYZ9876"]
    sink.close()


def _outage_run(redis_client, keys, frames, clock, d, sink, go_down, come_back):
    finish(frames, "cam0", ["ABC1234"])
    finish(frames, "cam1", ["QWE5678"])
    d.step()
    go_down()
    clock.now += 10
    for _ in range(3):  # the groups close; the store refuses them; nothing is acked
        d.step()
    assert redis_client.xlen(keys.events) == 0
    assert d.consumer.pending_count() == 2 and len(d.unstored) == 2
    assert sink.stats["store_unavailable"] >= 1
    finish(frames, "cam0", ["XYZ9876"])  # results keep arriving during the outage
    d.step()
    clock.now += 10
    d.step()
    assert d.consumer.pending_count() == 3 and redis_client.xlen(keys.events) == 0
    come_back()
    for _ in range(3):
        d.step()
    assert d.consumer.pending_count() == 0 and not d.unstored
    plates = sorted(e["plate"] for e in stream_events(redis_client, keys))
    assert plates == ["ABC1234", "QWE5678", "XYZ9876"]  # each once in the stream
    assert sink.store.count() == 3  # and once in the store
    # each event's pictures appended and counted once, however many tries the outage took:
    # every byte in the packs is a stored row's picture
    stats = sink.evidence.stats
    assert stats["evidence_written"] == 3 and stats["evidence_discarded"] == 0
    for event in stream_events(redis_client, keys):
        row = sink.store.get(event["id"])
        assert sink.evidence.read(row["crop"])[:2] == sink.evidence.read(row["frame"])[:2] \
            == b"\xff\xd8"
    assert sink.evidence.total == sink.store.evidence_bytes()
    assert stats["evidence_unnamed_bytes"] == 0 and not sink.unstored


def test_postgresql_stopped_mid_run_loses_nothing_and_stores_nothing_twice(redis_client,
                                                                           pg_server, tmp_path):
    pg_server.reset()
    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    clock = Clock()
    sink = make_sink(pg_server.url, tmp_path / "ev")
    d = build(redis_client, keys, clock, sink)
    try:
        _outage_run(redis_client, keys, frames, clock, d, sink,
                    go_down=lambda: pg_server.stop("immediate"), come_back=pg_server.start)
    finally:
        pg_server.start() if not _pg_up(pg_server) else None
    rows = sink.store.db.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM events")[0]
    assert rows == (3, 3)


def _pg_up(server):
    import psycopg

    try:
        psycopg.connect(server.url, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def test_sqlite_locked_by_another_writer_keeps_results_pending_then_catches_up(
        redis_client, tmp_path):
    path = str(tmp_path / "events.db")
    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    db = SqliteDb(path, busy_timeout_ms=100)
    migrate(db)
    sink = StoreSink(EventStore(db), EvidenceDir(str(tmp_path / "ev")), retry_base_s=0.0,
                     retry_cap_s=0.0)
    clock = Clock()
    d = build(redis_client, keys, clock, sink)
    other = sqlite3.connect(path, isolation_level=None)

    def lock():
        other.execute("BEGIN EXCLUSIVE")  # a second writer (a backup, the API) holds the file

    _outage_run(redis_client, keys, frames, clock, d, sink, go_down=lock,
                come_back=lambda: other.execute("COMMIT"))


def test_a_restarted_dispatcher_stores_what_an_outage_left_pending(redis_client, pg_server,
                                                                   tmp_path):
    pg_server.reset()
    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    clock = Clock()
    sink = make_sink(pg_server.url, tmp_path / "ev")
    d = build(redis_client, keys, clock, sink)
    finish(frames, "cam0", ["ABC1234"])
    d.step()
    pg_server.stop("immediate")
    try:
        d.flush()  # shutdown while the database is down: nothing acked, nothing emitted
        assert d.consumer.pending_count() == 1 and redis_client.xlen(keys.events) == 0
    finally:
        pg_server.start()
    sink2 = make_sink(pg_server.url, tmp_path / "ev")
    d2 = build(redis_client, keys, clock, sink2)  # same consumer name: re-reads its pending
    d2.step()
    d2.flush()
    assert sink2.store.count() == 1 and d2.consumer.pending_count() == 0
    assert [e["plate"] for e in stream_events(redis_client, keys)] == ["ABC1234"]


def test_evidence_quota_purges_oldest_first_and_counts(redis_client, db_url, tmp_path):
    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    clock = Clock()
    quota_mb = 3 * 1024 / (1024 * 1024.0)  # room for about two events' pictures
    sink = make_sink(db_url, tmp_path / "ev", quota_mb=quota_mb)
    d = build(redis_client, keys, clock, sink)
    for i, text in enumerate(["AAA1111", "BBB2222", "CCC3333", "DDD4444"]):
        finish(frames, "cam0", [text])
        d.step()
        clock.now += 10
        d.step()
    store = sink.store
    events = sorted((store.get(e["id"]) for e in stream_events(redis_client, keys)),
                    key=lambda e: e["emitted"])
    assert store.count() == 4
    kept = [e["plate"] for e in events if e["crop"]]
    assert kept and kept == [e["plate"] for e in events][-len(kept):]  # the newest kept
    assert sink.evidence.stats["purged_quota"] == 4 - len(kept) >= 1
    assert store.evidence_bytes() <= sink.evidence.quota_bytes
    import os

    # a quota this small gives each event's pictures a pack of its own: the kept ones remain
    files = [os.path.join(r, f) for r, _, fs in os.walk(str(tmp_path / "ev")) for f in fs]
    assert sorted(files) == sorted(e["crop"].rpartition("#")[0] for e in events if e["crop"])
    assert all(sink.evidence.read(e["frame"]) for e in events if e["crop"])


def test_redis_holds_evidence_only_for_the_frames_max_age(redis_client, tmp_path):
    from alpr.protocol import decode_result

    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=2.0)
    fid = finish(frames, "cam0", ["ABC1234"])
    (entry_id, fields), = redis_client.xrange(keys.results)
    assert len(fields[b"r"]) < 400  # the record carries no pictures...
    record = decode_result(fields)
    assert record.evidence_apart and "crop" not in record.reads[0] and not record.frame_jpeg
    ttl = redis_client.pttl(keys.evidence(fid))  # ...they wait under their own key, briefly
    assert 0 < ttl <= 2000
    late = finish(frames, "cam1", ["QWE5678"])
    redis_client.delete(keys.evidence(late))  # as if the dispatcher came after the max age
    clock = Clock()
    sink = make_sink("sqlite:///%s" % (tmp_path / "e.db"), tmp_path / "ev")
    d = build(redis_client, keys, clock, sink)
    d.step()
    clock.now += 10
    d.step()
    by_camera = {e["camera"]: sink.store.get(e["id"]) for e in stream_events(redis_client, keys)}
    assert by_camera["cam0"]["crop"] and by_camera["cam0"]["frame"]
    assert by_camera["cam1"]["crop"] is None  # stored all the same, without pictures
    assert d.stats["evidence_expired"] == 1


def test_known_plates_added_to_the_store_label_the_next_events(redis_client, tmp_path):
    from dispatcher.known_plates import KnownPlates

    keys = Keys("alpr:")
    frames = FrameStore(redis_client, keys, results_maxlen=10000, max_age_s=30.0)
    clock = Clock()
    sink = make_sink("sqlite:///%s" % (tmp_path / "e.db"), tmp_path / "ev")
    d = build(redis_client, keys, clock, sink)
    d.known = KnownPlates({"QWE5678": {"label": "allow", "note": "file"}}).follow(
        sink.known_plates, every_s=0.0)
    sink.store.put_known_plate("ABC-1234", "deny", "stolen")  # as the API does
    finish(frames, "cam0", ["ABC1234"])
    finish(frames, "cam1", ["QWE5678"])
    d.step()
    clock.now += 10
    d.step()
    labels = {e["plate"]: (e["label"], e["note"]) for e in stream_events(redis_client, keys)}
    assert labels == {"ABC1234": ("deny", "stolen"), "QWE5678": ("allow", "file")}
    assert sink.store.get([e for e in stream_events(redis_client, keys)
                           if e["plate"] == "ABC1234"][0]["id"])["label"] == "deny"
