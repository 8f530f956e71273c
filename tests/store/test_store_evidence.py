"""Evidence packs: pictures appended to pack files, read back by location, retention by age and
by quota (oldest pack first, every purged event counted), never outside the root."""
import errno
import os

from event_helpers import make_event
from store.evidence import EvidenceDir, pack_created

CROP, FRAME = b"\xff\xd8" + b"c" * 998, b"\xff\xd8" + b"f" * 3998


def _stored(store, evidence, plate, emitted):
    event = make_event(plate, first_seen=emitted - 5.0, emitted=emitted)
    written = evidence.put(event, CROP, FRAME)
    store.write_events([(event, written)])
    evidence.committed(written)
    return event, written


def _packs(root):
    return sorted(os.path.join(r, f) for r, _, fs in os.walk(str(root)) for f in fs)


def test_pictures_are_appended_to_one_pack_and_read_back_by_location(event_store, tmp_path):
    evidence = EvidenceDir(str(tmp_path / "ev"))
    events = [make_event("ABC123%d" % i) for i in range(5)]
    written = evidence.put_many([(e, CROP + bytes([i]), FRAME) for i, e in enumerate(events)])
    event_store.write_events(list(zip(events, written)))
    assert len(_packs(tmp_path / "ev")) == 1  # 5 events, 10 pictures, one file created
    for i, event in enumerate(events):
        row = event_store.get(event["id"])
        assert row["crop"].startswith(written[0]["pack"] + "#")
        assert evidence.read(row["crop"]) == CROP + bytes([i])
        assert evidence.read(row["frame"]) == FRAME
        assert row["evidence_bytes"] == len(CROP) + 1 + len(FRAME)
    assert pack_created(os.path.basename(written[0]["pack"])) is not None
    evidence.close()


def test_a_pack_is_closed_past_its_size_and_a_new_writer_never_appends_to_old_packs(tmp_path):
    one = EvidenceDir(str(tmp_path / "ev"), quota_mb=16 * 6000 / 1048576.0)  # packs of 6000 B
    locations = [one.put(make_event("AAA000%d" % i), CROP, FRAME)["pack"] for i in range(3)]
    assert locations[0] == locations[1] != locations[2]  # 10,000 bytes passed 6,000
    two = EvidenceDir(str(tmp_path / "ev"))  # a second dispatcher on the same directory
    assert two.put(make_event("BBB0001"), CROP, FRAME)["pack"] not in locations
    assert two.total == one.total + 5000 == 20000  # it learnt the packs already on disk
    one.close()
    two.close()


def test_retention_purges_by_age_then_by_quota_oldest_pack_first(event_store, tmp_path):
    now = [1764600000.0]
    day = 86400.0
    # a quota of 12,000 bytes: packs of 750, so each event's 5,000 bytes get a pack of their own
    evidence = EvidenceDir(str(tmp_path / "ev"), max_age_days=1.0, quota_mb=12000 / 1048576.0,
                           clock=lambda: clock[0])
    clock = [now[0] - 2 * day]
    old, old_files = _stored(event_store, evidence, "OLD1111", clock[0])
    clock[0] = now[0] - 3600
    mid, mid_files = _stored(event_store, evidence, "MID2222", clock[0])
    clock[0] = now[0] - 60
    new, new_files = _stored(event_store, evidence, "NEW3333", clock[0])
    clock[0] = now[0]
    assert evidence.enforce(event_store) == 1  # the pack older than a day
    assert evidence.stats["purged_age"] == 1 and not os.path.exists(old_files["pack"])
    assert event_store.get(old["id"])["crop"] is None  # the event stays, without pictures
    assert evidence.read(old_files["crop"]) is None
    assert evidence.read(mid_files["frame"]) == FRAME
    # 2 x 5000 bytes held; 5000 more would pass 12000: the oldest goes first
    assert evidence.enforce(event_store, incoming=5000) == 1
    assert evidence.stats["purged_quota"] == 1 and evidence.stats["purged_bytes"] == 10000
    assert not os.path.exists(mid_files["pack"]) and evidence.read(new_files["crop"]) == CROP
    assert event_store.evidence_bytes() == evidence.total == 5000
    assert _packs(tmp_path / "ev") == [new_files["pack"]]
    assert evidence.stats["packs_purged"] == 2


def test_a_purge_clears_every_event_of_the_pack_and_counts_each(event_store, tmp_path):
    evidence = EvidenceDir(str(tmp_path / "ev"), quota_mb=16 * 20000 / 1048576.0)
    for i in range(4):  # 4 x 5000 bytes: the first pack takes all four (limit 20000)
        _stored(event_store, evidence, "ABC000%d" % i, 1764600000.0 + i)
    assert evidence.enforce(event_store, incoming=16 * 20000) == 4
    assert evidence.stats["purged_quota"] == 4 and evidence.total == 0
    assert event_store.evidence_bytes() == 0 and _packs(tmp_path / "ev") == []


def test_the_quota_never_purges_a_pack_another_dispatcher_may_still_append_to(event_store,
                                                                              tmp_path):
    now = [1764600000.0]
    quota = 16 * 6000 / 1048576.0  # packs of 6,000 bytes, 96,000 in all
    other = EvidenceDir(str(tmp_path / "ev"), quota_mb=quota, clock=lambda: now[0])
    _, theirs = _stored(event_store, other, "OTH0001", now[0])  # its open pack
    now[0] += 60
    mine = EvidenceDir(str(tmp_path / "ev"), quota_mb=quota, clock=lambda: now[0])
    _, own = _stored(event_store, mine, "OWN0001", now[0])
    assert mine.enforce(event_store, incoming=90000) == 1  # its own, though newer
    assert os.path.exists(theirs["pack"]) and not os.path.exists(own["pack"])
    now[0] += 600  # the other may still commit rows naming its pack for a while...
    assert mine.enforce(event_store, incoming=95000) == 0 and os.path.exists(theirs["pack"])
    now[0] += 600  # ...twice PACK_SECONDS on, it has moved to a new pack and committed
    assert mine.enforce(event_store, incoming=95000) == 1
    assert not os.path.exists(theirs["pack"]) and mine.stats["purged_quota"] == 2
    # a pack the other opened after this writer learnt the disk is found at its next pack
    _, later = _stored(event_store, other, "OTH0002", now[0])
    _stored(event_store, mine, "OWN0002", now[0])
    assert later["pack"] in [p.path for p in mine.packs]
    other.close()
    mine.close()


def test_a_short_write_is_finished_or_refused_never_taken_for_whole(tmp_path, monkeypatch):
    real_pwrite, calls = os.pwrite, []

    def pwrite_a_little(fd, data, offset):  # a fake nearly full disk, this layer only
        calls.append(len(data))
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, bytes(data[:1000]), offset)

    evidence = EvidenceDir(str(tmp_path / "ev"))
    monkeypatch.setattr(os, "pwrite", pwrite_a_little)
    whole = evidence.put(make_event("ABC1234"), CROP[:500], CROP[:1500])  # 2,000: 2 calls
    cut = evidence.put(make_event("ABC1235"), CROP, FRAME)  # 5,000: refused on the 4th call
    monkeypatch.undo()
    assert evidence.read(whole["crop"]) == CROP[:500]
    assert evidence.read(whole["frame"]) == CROP[:1500]
    assert cut["crop"] is None and evidence.stats["evidence_failed"] == 1
    evidence.close()


def test_a_pack_that_cannot_be_removed_does_not_stop_retention(event_store, tmp_path,
                                                               monkeypatch):
    evidence = EvidenceDir(str(tmp_path / "ev"), quota_mb=16 * 100 / 1048576.0)
    _, first = _stored(event_store, evidence, "AAA0001", 1764600000.0)
    _, second = _stored(event_store, evidence, "AAA0002", 1764600000.0)
    real_remove = os.remove

    def remove_refused_for_the_first(path):  # a fake EIO on one file, this layer only
        if path == first["pack"]:
            raise OSError(errno.EIO, "Input/output error")
        return real_remove(path)

    monkeypatch.setattr(os, "remove", remove_refused_for_the_first)
    assert evidence.enforce(event_store, incoming=1600) == 2  # both rows cleared, counted
    assert evidence.stats["purge_failed"] == 1 and not os.path.exists(second["pack"])
    assert evidence.enforce(event_store, incoming=1600) == 0  # and it goes on working
    evidence.close()


def test_nothing_outside_the_root_is_ever_read(tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"\xff\xd8secret")
    evidence = EvidenceDir(str(tmp_path / "ev"))
    pack = evidence.put(make_event("ABC1234"), CROP, FRAME)["pack"]
    for location in (str(outside), str(outside) + "#0+4", pack + "/../../secret.jpg#0+4",
                     os.path.join(evidence.root, "..", "secret.jpg"), "/etc/passwd#0+10",
                     pack + "#-1+4", pack + "#0+0", pack + "#0+x", pack + "#999999+10", ""):
        assert evidence.read(location) is None, location
    assert evidence.read(pack + "#0+2") == b"\xff\xd8"
    evidence.close()


def test_a_whole_file_location_from_before_packs_is_still_read(tmp_path):
    root = tmp_path / "ev" / "2026-11-30"
    root.mkdir(parents=True)
    (root / "cam0%3Af1.crop.jpg").write_bytes(CROP)
    assert EvidenceDir(str(tmp_path / "ev")).read(str(root / "cam0%3Af1.crop.jpg")) == CROP


def test_a_version_2_store_gains_packs_and_keeps_its_whole_file_evidence(tmp_path):
    from store import EventStore
    from store.db import open_db
    from store.migrations import available, current_version, migrate

    root = tmp_path / "ev" / "2026-11-30"
    root.mkdir(parents=True)
    (root / "cam0%3Af1.crop.jpg").write_bytes(CROP)
    db = open_db("sqlite:///%s" % (tmp_path / "old.db"))
    with db.transaction() as cur:  # the schema as the release before packs left it
        current_version(db)
        for version, name, module in available()[:2]:
            for statement in module.SQLITE:
                cur.execute(statement)
            cur.execute("INSERT INTO schema_migrations (version, name, applied)"
                        " VALUES (?, ?, 0)", (version, name))
        cur.execute("INSERT INTO events (id, camera, site, first_seen, last_seen, emitted,"
                    " plate, plate_key, confidence, country, frames, reads, candidates, label,"
                    " note, box, best_frame, crop_path, frame_path, evidence_bytes, body)"
                    " VALUES ('cam0:f1', 'cam0', '', 1, 2, 3, 'ABC1234', 'ABC1234', 0.9, '',"
                    " 1, 1, '[]', '', '', '[]', 'f1', ?, NULL, ?, ?)",
                    (str(root / "cam0%3Af1.crop.jpg"), len(CROP),
                     '{"id": "cam0:f1", "plate": "ABC1234", "camera": "cam0"}'))
    assert migrate(db) == 3
    store = EventStore(db)
    old = store.get("cam0:f1")
    assert EvidenceDir(str(tmp_path / "ev")).read(old["crop"]) == CROP
    evidence = EvidenceDir(str(tmp_path / "ev"))
    _, written = _stored(store, evidence, "NEW1234", 1764600000.0)  # new events go to packs
    assert store.get(old["id"])["crop"] and store.clear_pack(written["pack"]) == 1
    store.close()


def test_an_unwritable_evidence_directory_stores_the_event_without_pictures(event_store,
                                                                            tmp_path):
    from store.sink import StoreSink

    blocked = tmp_path / "not-a-dir"
    blocked.write_bytes(b"")  # evidence root is a file: every write fails with an OSError
    sink = StoreSink(event_store, EvidenceDir(str(blocked)))
    event = make_event("ABC1234")
    assert sink.write([(event, {"crop": b"\xff\xd8c", "frame": b"\xff\xd8f"})]) == 1
    assert event_store.get(event["id"])["crop"] is None
    assert sink.all_stats()["evidence_failed"] == 1 and sink.all_stats()["stored"] == 1


def test_a_batch_whose_write_fails_for_one_event_stores_that_one_without_pictures(
        event_store, tmp_path, monkeypatch):
    """The disk refuses one event's append (full, for a moment): that event is stored without
    pictures, counted, and the others' locations still read their own bytes."""
    from store.sink import StoreSink

    real_pwrite, calls = os.pwrite, []

    def pwrite_full_on_the_second(fd, data, offset):  # a fake disk error, this layer only
        calls.append(offset)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite_full_on_the_second)
    events = [make_event("ABC123%d" % i) for i in range(3)]
    sink = StoreSink(event_store, EvidenceDir(str(tmp_path / "ev")))
    assert sink.write([(e, {"crop": b"\xff\xd8c%d" % i, "frame": b"\xff\xd8f"})
                       for i, e in enumerate(events)]) == 3
    stored = [event_store.get(e["id"]) for e in events]
    assert stored[1]["crop"] is None and stored[1]["frame"] is None
    assert stored[1]["evidence_bytes"] == 0
    for i in (0, 2):
        assert sink.evidence.read(stored[i]["crop"]) == b"\xff\xd8c%d" % i
        assert sink.evidence.read(stored[i]["frame"]) == b"\xff\xd8f"
    stats = sink.all_stats()
    assert stats["evidence_failed"] == 1 and stats["evidence_written"] == 2
    sink.close()


def test_a_replayed_batch_keeps_its_first_pictures_and_counts_the_copy(event_store, tmp_path):
    from store.sink import StoreSink

    sink = StoreSink(event_store, EvidenceDir(str(tmp_path / "ev")))
    event = make_event("ABC1234")
    assert sink.write([(event, {"crop": CROP, "frame": FRAME})]) == 1
    first = event_store.get(event["id"])["crop"]
    assert sink.write([(event, {"crop": CROP, "frame": FRAME})]) == 0  # the ack was lost
    assert event_store.get(event["id"])["crop"] == first
    assert sink.all_stats()["evidence_discarded"] == 1
    assert sink.all_stats()["evidence_written"] == 1
    sink.close()


def test_postgresql_checks_no_foreign_key_per_child_row(pg_server):
    """Migration 3 drops the per-row foreign-key triggers of event_keys and event_reads on
    PostgreSQL (the ingest's cost); the names it drops by must be the ones the server gave."""
    from store import open_store

    pg_server.reset()
    store = open_store(pg_server.url)
    rows = store.db.query("SELECT conrelid::regclass::text FROM pg_constraint"
                          " WHERE contype = 'f' ORDER BY 1")
    assert [r[0] for r in rows] == ["alerts"]  # only the alerts keep theirs (written rarely)
    store.close()
