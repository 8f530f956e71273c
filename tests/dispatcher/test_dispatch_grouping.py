"""Grouping reads into vehicles, voting, dedup: pure logic, no Redis."""
from alpr.plate_formats import normalize_plate
from dispatcher.grouping import Deduper, Grouper, jaro_winkler


def read(text, conf=0.9, box=(10, 10, 50, 30)):
    return {"text": text, "confidence": conf, "box": list(box), "region": "br"}


def test_jaro_winkler_known_values():
    assert jaro_winkler("MARTHA", "MARHTA") == pytest_approx(0.9611)
    assert jaro_winkler("DIXON", "DICKSONX") == pytest_approx(0.8133)
    assert jaro_winkler("ABC1234", "ABC1234") == 1.0
    assert jaro_winkler("", "ABC") == 0.0
    assert jaro_winkler("ABC1234", "XYZ9876") < 0.5


def test_jaro_winkler_is_winklers_own_definition():
    """rapidfuzz's: half the transpositions rounded down, the prefix bonus only above 0.7
    (the hand-written one before it used 1.5 transpositions here, and boosted any score)."""
    assert jaro_winkler("CUVP3JPT", "CUV73JPT") == pytest_approx(0.9083)
    assert jaro_winkler("37", "33") == pytest_approx(2.0 / 3.0)


def pytest_approx(value):
    import pytest

    return pytest.approx(value, abs=1e-3)


def test_normalize_plate():
    assert normalize_plate(" abc-12 34 ") == "ABC1234"
    assert normalize_plate(None) == ""


def test_one_vehicle_with_misreads_is_one_group_voted_by_count():
    g = Grouper(window_s=3.0, similarity=0.8)
    texts = ["ABC1234", "ABC1284", "ABC1234", "A8C1234", "ABC1234"]
    for i, text in enumerate(texts):
        g.add_frame("cam0", "site", "f%d" % i, ts=100.0 + i * 0.1, reads=[read(text, 0.95 if "8" in text else 0.8)],
                    now=1000.0 + i * 0.1)
    assert len(g) == 1
    assert g.close_idle(now=1001.0) == []  # still within the window
    (group,) = g.close_idle(now=1010.0)
    s = group.summary()
    assert s["plate"] == "ABC1234"  # 3 reads beat two higher-confidence single misreads
    assert s["frames"] == 5 and s["reads"] == 5
    assert s["first_seen"] == 100.0 and abs(s["last_seen"] - 100.4) < 1e-9
    assert [c["text"] for c in s["candidates"]][0] == "ABC1234"
    assert s["candidates"][0]["count"] == 3
    assert s["box"] == [10, 10, 50, 30]
    assert len(g) == 0


def test_tie_broken_by_confidence():
    g = Grouper(3.0, 0.8)
    g.add_frame("c", "", "f1", 1.0, [read("XYZ9876", 0.6)], now=1.0)
    g.add_frame("c", "", "f2", 1.1, [read("XYZ9875", 0.9)], now=1.1)
    (group,) = g.close_all()
    assert group.best_text == "XYZ9875"


def test_different_plates_and_cameras_make_different_groups():
    g = Grouper(3.0, 0.8)
    g.add_frame("c1", "", "f1", 1.0, [read("ABC1234"), read("QWE5678")], now=1.0)
    g.add_frame("c2", "", "f2", 1.0, [read("ABC1234")], now=1.0)
    g.add_frame("c1", "", "f3", 1.1, [read("QWE5678")], now=1.1)
    closed = g.close_all()
    assert sorted((x.camera, x.best_text, x.frames) for x in closed) == [
        ("c1", "ABC1234", 1), ("c1", "QWE5678", 2), ("c2", "ABC1234", 1)]


def test_two_similar_plates_in_one_frame_stay_two_vehicles():
    g = Grouper(3.0, 0.8)
    g.add_frame("c", "", "f1", 1.0, [read("ABC1234"), read("ABC1235")], now=1.0)
    assert len(g) == 2


def test_empty_texts_are_ignored_and_entries_are_held_until_close():
    g = Grouper(3.0, 0.8)
    assert g.add_frame("c", "", "f1", 1.0, [read(""), {"text": None}], now=1.0, entry="1-0") == []
    g.add_frame("c", "", "f2", 1.0, [read("ABC1234")], now=1.0, entry="2-0", truth=["abc1234"])
    assert g.held_entries() == {"2-0"}
    (group,) = g.close_idle(now=10.0)
    assert group.entries == {"2-0"} and group.summary()["truth"] == ["ABC1234"]
    assert g.held_entries() == set()


def test_dedup_suppresses_repeat_within_window_and_extends_last_seen():
    d = Deduper(window_s=60.0, similarity=0.8)
    first = {"camera": "c", "plate": "ABC1234", "first_seen": 0.0, "last_seen": 5.0}
    assert d.check(first) is None
    d.remember(first)
    again = {"camera": "c", "plate": "ABC1284", "first_seen": 30.0, "last_seen": 40.0}
    prev = d.check(again)
    assert prev is first and first["last_seen"] == 40.0 and first["repeats"] == 1
    other_cam = {"camera": "d", "plate": "ABC1234", "first_seen": 30.0, "last_seen": 41.0}
    assert d.check(other_cam) is None
    later = {"camera": "c", "plate": "ABC1234", "first_seen": 200.0, "last_seen": 201.0}
    assert d.check(later) is None


def test_capture_time_closes_groups_of_a_backlog_as_it_goes():
    # a dispatcher catching up reads minutes of frames at once (same dispatcher clock):
    # vehicles close when the camera's capture time has moved on past the window
    g = Grouper(window_s=3.0, similarity=0.8)
    g.add_frame("c", "", "f1", ts=100.0, reads=[read("AAA1111")], now=5000.0)
    g.add_frame("c", "", "f2", ts=101.0, reads=[read("AAA1111")], now=5000.0)
    g.add_frame("c", "", "f3", ts=110.0, reads=[read("BBB2222")], now=5000.0)
    (closed,) = g.close_idle(now=5000.0)
    assert closed.best_text == "AAA1111" and closed.frames == 2
    assert [x.best_text for x in g.close_all()] == ["BBB2222"]
    # a closed vehicle's text no longer matches: a new read starts a new group
    g.add_frame("c", "", "f4", ts=111.0, reads=[read("AAA1111")], now=5001.0)
    assert len(g) == 1 and g.open["c"][0].frames == 1
