"""The evidence directory: names from event ids, retention by age and by quota, counted."""
import os

import pytest

from alpr.errors import StoreError
from event_helpers import make_event
from store.evidence import EvidenceDir, escape_id


def test_event_ids_become_one_safe_file_name():
    assert escape_id("cam0:abc") == "cam0%3Aabc"
    for tricky in ("../../etc/passwd", "..", "a/b", "a\x00b", "c:\\x"):
        name = escape_id(tricky)
        assert "/" not in name and "\\" not in name and "." not in name and "\x00" not in name
    with pytest.raises(StoreError):
        escape_id("")


def _stored(store, evidence, plate, emitted):
    event = make_event(plate, first_seen=emitted - 5.0, emitted=emitted)
    written = evidence.put(event, b"\xff\xd8" + b"c" * 998, b"\xff\xd8" + b"f" * 3998)
    store.write_events([(event, written)])
    evidence.committed(written)
    return event, written


def test_retention_purges_by_age_then_by_quota_oldest_first(event_store, tmp_path):
    now = [1764600000.0]
    evidence = EvidenceDir(str(tmp_path / "ev"), max_age_days=1.0, quota_mb=12000 / 1048576.0,
                           clock=lambda: now[0])
    day = 86400.0
    old, old_files = _stored(event_store, evidence, "OLD1111", now[0] - 2 * day)
    mid, mid_files = _stored(event_store, evidence, "MID2222", now[0] - 3600)
    new, new_files = _stored(event_store, evidence, "NEW3333", now[0] - 60)
    assert evidence.enforce(event_store) == 1  # older than a day
    assert evidence.stats["purged_age"] == 1 and not os.path.exists(old_files["crop"])
    assert event_store.get(old["id"])["crop"] is None  # the event stays, without pictures
    assert os.path.exists(mid_files["frame"])
    # 2 x 5000 bytes held; 5000 more would pass 12000: the oldest goes first
    assert evidence.enforce(event_store, incoming=5000) == 1
    assert evidence.stats["purged_quota"] == 1 and evidence.stats["purged_bytes"] == 10000
    assert not os.path.exists(mid_files["crop"]) and os.path.exists(new_files["crop"])
    assert event_store.evidence_bytes() == evidence.total == 5000
    files = [f for _, _, fs in os.walk(str(tmp_path / "ev")) for f in fs]
    assert len(files) == 2  # the newest event's crop and frame


def test_a_file_outside_the_root_is_never_removed(event_store, tmp_path):
    outside = tmp_path / "keep.jpg"
    outside.write_bytes(b"keep")
    evidence = EvidenceDir(str(tmp_path / "ev"), quota_mb=1 / 1048576.0)
    event = make_event("ABC1234")
    event_store.write_events([(event, {"crop": str(outside), "frame": None, "bytes": 10})])
    assert evidence.enforce(event_store, incoming=10) == 1  # counted and cleared from the row
    assert outside.read_bytes() == b"keep"


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


def test_a_batch_whose_files_fail_for_one_event_stores_that_one_without_pictures(event_store,
                                                                                 tmp_path):
    """The files are written while the rows are inserted (start_many): the commit waits for
    them and clears the paths of an event whose writes failed, in the same transaction."""
    from store.sink import StoreSink

    root = tmp_path / "evidence"
    root.mkdir()
    day = 86400.0 * 20000  # 2024-10-04
    events = [make_event("ABC123%d" % i, first_seen=day + 86400.0 * (i == 1))
              for i in range(3)]
    (root / "2024-10-05").write_bytes(b"")  # event 1's day folder is a file: its write fails
    sink = StoreSink(event_store, EvidenceDir(str(root)))
    assert sink.write([(e, {"crop": b"\xff\xd8c", "frame": b"\xff\xd8f"}) for e in events]) == 3
    stored = [event_store.get(e["id"]) for e in events]
    assert stored[1]["crop"] is None and stored[1]["frame"] is None
    assert stored[1]["evidence_bytes"] == 0
    for row in (stored[0], stored[2]):
        assert open(row["crop"], "rb").read() == b"\xff\xd8c"
        assert open(row["frame"], "rb").read() == b"\xff\xd8f"
    stats = sink.all_stats()
    assert stats["evidence_failed"] == 1 and stats["evidence_written"] == 2
    sink.close()
