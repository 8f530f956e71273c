"""The recent-read cache on a real redis-server: newest time wins, TTL trimming, per camera and global."""
from alpr.keys import Keys
from dispatcher.recent import RecentCache


def test_newest_time_wins_and_old_reads_are_trimmed(redis_client):
    keys = Keys()
    cache = RecentCache(redis_client, keys, ttl_s=100.0)
    now = 10000.0
    assert cache.touch_many({"c1": [("abc-1234", now - 5), ("OLD999", now - 500)],
                             "c2": [("ABC1234", now - 50)]}, now=now) == 3
    cache.touch("c1", [("ABC1234", now - 30)], now=now)  # late, older read: ignored
    assert cache.last_seen("ABC1234", "c1") == now - 5
    assert cache.last_seen("ABC1234") == now - 5  # global: newest of all cameras
    assert cache.seen("ABC1234", 10, "c2", now=now) is None
    assert cache.seen("ABC1234", 60, "c2", now=now) == now - 50
    # OLD999 was older than the TTL when written: trimmed in the same round trip
    assert cache.last_seen("OLD999", "c1") is None
    assert 0 < redis_client.ttl(keys.recent("c1")) <= 100
    assert [t for t, _ in cache.latest("c1")] == ["ABC1234"]
    assert cache.cameras_seen("ABC1234", 60, ["c1", "c2", "c3"], now=now) == [
        ("c1", now - 5), ("c2", now - 50)]
