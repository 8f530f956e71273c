"""Fuzzing the API with hypothesis: any query, id or body gets an answer below 500."""

from hypothesis import HealthCheck, given, settings, strategies as st

from api_helpers import client_for
from event_helpers import make_event

FIELDS = ["plate", "camera", "since", "until", "label", "limit", "offset", "x", "page"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
SLOW = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _client(store, tmp_path):
    store.write_events([(make_event("ABC1234", first_seen=1000.0), None)])
    return client_for(store, tmp_path / "ev")[0]


def test_fuzzed_event_queries_never_fail_the_server(event_store, tmp_path):
    client = _client(event_store, tmp_path)

    @SLOW
    @given(st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=5))
    def check(params):
        answer = client.get("/api/events", params=params)
        assert answer.status_code < 500, (params, answer.text)
        if answer.status_code >= 400:
            assert answer.json()["detail"]

    check()


def test_fuzzed_ids_and_bodies_never_fail_the_server(event_store, tmp_path):
    client = _client(event_store, tmp_path)

    @SLOW
    @given(TEXT, st.sampled_from(["", "/crop.jpg", "/frame.jpg"]),
           st.dictionaries(st.sampled_from(["plate", "label", "note", "x"]),
                           st.one_of(TEXT, st.integers(), st.none()), max_size=4))
    def check(event_id, suffix, body):
        from urllib.parse import quote

        answer = client.get("/api/events/" + quote(event_id, safe="") + suffix)
        assert answer.status_code < 500, (event_id, answer.text)
        for call in (lambda: client.post("/api/known-plates", json=body),
                     lambda: client.put("/api/known-plates/" + quote(event_id[:40], safe=""),
                                        json=body)):
            got = call()
            assert got.status_code < 500, (event_id, body, got.text)

    check()
