"""Fuzzy plate search with look-alikes, filters and ranking, on both backends."""
import pytest

from alpr.errors import StoreError
from store.lookalike import neighbours, plate_key
from store.search import Query, search
from event_helpers import make_event


def test_plate_key_folds_look_alikes():
    assert plate_key("abc-1234") == plate_key("A8C1234") == plate_key("ABC I234") == "A8C1234"
    assert plate_key("OQD0") == "0000" and plate_key("SZG") == "526"


def test_neighbours_are_the_key_and_its_one_character_deletions():
    assert neighbours("A8C") == ["A8C", "8C", "AC", "A8"]
    assert neighbours("AA") == ["AA", "A"] and neighbours("A") == ["A"]


@pytest.fixture
def filled(event_store):
    events = [make_event("ABC1234", first_seen=1000.0),
              make_event("A8C1234", first_seen=2000.0, camera="cam1", label="deny"),
              make_event("ABC1284", first_seen=3000.0),
              make_event("XYZ9876", first_seen=4000.0),
              make_event("AB", first_seen=5000.0)]
    event_store.write_events([(e, None) for e in events])
    return event_store


def test_look_alike_and_misread_plates_are_found_ranked_by_similarity_then_time(filled):
    got = search(filled, Query(plate="ABC1234"))
    assert [e["plate"] for e in got] == ["ABC1234", "A8C1234", "ABC1284"]
    assert got[0]["score"] > got[1]["score"] > got[2]["score"]
    # the look-alike typed finds the same two first, the exact text on top
    assert [e["plate"] for e in search(filled, Query(plate="A8C1234"))][:2] == ["A8C1234",
                                                                                 "ABC1234"]
    assert [e["plate"] for e in search(filled, Query(plate="abc-I234"))][:2] == ["ABC1234",
                                                                                 "A8C1234"]
    assert search(filled, Query(plate="QQQ0000")) == []
    assert [e["plate"] for e in search(filled, Query(plate="AB"))] == ["AB"]
    # a character missed or one too many: one edit, found by the neighbour index
    assert [e["plate"] for e in search(filled, Query(plate="ABC123"))][:2] == ["ABC1234",
                                                                               "A8C1234"]
    assert [e["plate"] for e in search(filled, Query(plate="ABC12345"))][:1] == ["ABC1234"]
    # two characters wrong: nothing within one edit, the trigram index still finds it
    assert [e["plate"] for e in search(filled, Query(plate="XBC1239"))][:1] == ["ABC1234"]


def test_filters_camera_time_label_and_paging(filled):
    assert [e["plate"] for e in search(filled, Query(plate="ABC1234", camera="cam1"))] == [
        "A8C1234"]
    assert [e["plate"] for e in search(filled, Query(plate="ABC1234", since=1500, until=3500))] \
        == ["A8C1234", "ABC1284"]
    assert [e["plate"] for e in search(filled, Query(plate="ABC1234", label="deny"))] == [
        "A8C1234"]
    assert [e["plate"] for e in search(filled, Query(label="unknown", limit=2))] == ["AB",
                                                                                      "XYZ9876"]
    assert [e["plate"] for e in search(filled, Query(limit=2, offset=1))] == ["XYZ9876",
                                                                              "ABC1284"]


@pytest.mark.parametrize("bad, message", [
    (dict(limit=0), "limit"), (dict(limit=100000), "limit"), (dict(offset=-1), "offset"),
    (dict(since=10, until=5), "since"), (dict(label="vip"), "label"), (dict(plate="--"), "no letters")])
def test_bad_queries_are_refused_with_a_reason(event_store, bad, message):
    with pytest.raises(StoreError, match=message):
        search(event_store, Query(**bad))
