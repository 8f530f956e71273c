"""The results consumer on a real redis-server: ack, restart, claim, lost group."""
import time

from alpr.keys import Keys
from alpr.protocol import ResultRecord, encode_result
from dispatcher.consumer import ResultsConsumer


def add(redis_client, n, stream):
    for i in range(n):
        redis_client.xadd(stream, encode_result(ResultRecord("f%d" % i, "cam", "read")))


def test_pending_entries_survive_a_restart_and_acked_ones_do_not(redis_client):
    stream = Keys().results
    add(redis_client, 5, stream)
    c1 = ResultsConsumer(redis_client, stream, consumer="d1", batch=3, block_ms=10)
    assert c1.ensure_group() is True and c1.ensure_group() is False
    first = c1.read()
    assert len(first) == 3
    c1.ack([first[0][0]])
    # "restart": a new consumer object with the same name re-reads its 2 unacked ones first
    c2 = ResultsConsumer(redis_client, stream, consumer="d1", batch=3, block_ms=10)
    again = c2.read()
    assert [e for e, _ in again] == [e for e, _ in first[1:]]
    assert len(c2.read()) == 2  # then the 2 never delivered
    assert c2.read() == []
    assert c2.pending_count() == 4


def test_idle_entries_of_a_dead_consumer_are_claimed_but_held_ones_are_not(redis_client):
    stream = Keys().results
    add(redis_client, 4, stream)
    dead = ResultsConsumer(redis_client, stream, consumer="dead", batch=10, block_ms=10)
    dead.ensure_group()
    delivered = dead.read()
    assert len(delivered) == 4
    time.sleep(0.06)
    alive = ResultsConsumer(redis_client, stream, consumer="alive", batch=10, block_ms=10,
                            claim_idle_ms=50)
    alive._own_pending_done = True
    claimed = alive.read(held={delivered[0][0]})
    assert sorted(e for e, _ in claimed) == sorted(e for e, _ in delivered[1:])
    assert alive.stats["claimed"] == 3
    alive.ack([e for e, _ in claimed])
    assert alive.pending_count() == 1


def test_keepalive_keeps_held_entries_from_being_claimed(redis_client):
    stream = Keys().results
    add(redis_client, 2, stream)
    owner = ResultsConsumer(redis_client, stream, consumer="owner", batch=10, block_ms=10,
                            claim_idle_ms=300)
    owner.ensure_group()
    ids = [e for e, _ in owner.read()]
    time.sleep(0.35)
    owner.keepalive(ids)
    other = ResultsConsumer(redis_client, stream, consumer="other", batch=10, block_ms=10,
                            claim_idle_ms=300)
    other._own_pending_done = True
    assert other.read() == []


def test_lost_group_is_recreated(redis_client):
    stream = Keys().results
    c = ResultsConsumer(redis_client, stream, consumer="d", block_ms=10)
    c.ensure_group()
    redis_client.delete(stream)  # what a Redis restart without persistence looks like
    assert c.read() == []
    assert c.stats["group_created"] == 2
    add(redis_client, 1, stream)
    assert len(c.read()) == 1
