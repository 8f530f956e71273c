"""The worker's RQ dequeue claims the popped job's frame in the same round trip (FrameQueue),
and RQ's own per-job worker-key writes are kept out of the frame's path. Real Redis, real
RQ classes, in-process."""
import os
import time

import pytest

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope
from worker.frame_engines import NullEngine
from alpr.frame_jobs import enqueue_frames, frame_id_of_job, job_queue
from worker.jobs import AllowlistJob, FrameQueue, make_queue
from worker.node import FleetWorker
from alpr.job_serializer import MsgpackSerializer
from worker_helpers import put_frames, results
from test_processor import make_path


@pytest.fixture
def fleet(redis_client):
    """(worker, processor, store, keys) on queue 'frames', wired as in `alpr worker`."""
    path, store, keys = make_path(redis_client, NullEngine(), batch_max=1,
                                  queues=("alpr:frames",))
    worker = FleetWorker([make_queue("alpr:frames", redis_client)], redis_client, path,
                         name="n1.test")
    yield worker, path.processor, store, keys
    path.processor.close()


def dequeue(worker):
    return FrameQueue.dequeue_any(worker.queues, None, connection=worker.connection,
                                  job_class=AllowlistJob, serializer=MsgpackSerializer)


def count_claims(store):
    calls = []
    real = store.claim

    def claim(*args):
        calls.append(args[0])
        return real(*args)

    store.claim = claim
    return calls


def test_frame_id_of_job():
    assert frame_id_of_job("abc123") == "abc123"
    assert frame_id_of_job("abc123-r0f9e8d") == "abc123"  # requeue_job_id
    assert frame_id_of_job("abc-rzzzzzz") == "abc-rzzzzzz"  # not hex: an id of its own
    assert frame_id_of_job("-r0f9e8d") == "-r0f9e8d"


def test_dequeue_claims_the_frame_and_the_job_runs_it_without_another_claim(redis_client, fleet):
    worker, proc, store, keys = fleet
    (fid,) = put_frames(redis_client, keys, 1)
    job, queue = dequeue(worker)
    assert job.id == fid and job.preclaimed[0] == fid
    assert job.preclaimed[1] == redis_client.get(keys.held(fid))  # the stored envelope
    assert redis_client.hexists(keys.running("n1"), fid) and not redis_client.exists(keys.frame(fid))
    claims = count_claims(store)
    worker.execute_job(job, queue)
    assert claims == []  # the body came with the job
    rec = results(redis_client, keys)[fid]
    assert rec.status == "read" and rec.timings["claim"] > 0
    assert not redis_client.hlen(keys.running("n1")) and not redis_client.exists(keys.held(fid))
    assert not redis_client.exists(job.key)
    assert store.accounting("cam1")["read"] == 1


def test_plain_fetch_outside_the_dequeue_claims_nothing(redis_client, fleet):
    worker, proc, store, keys = fleet
    (fid,) = put_frames(redis_client, keys, 1)
    job = AllowlistJob.fetch(fid, connection=redis_client, serializer=MsgpackSerializer)
    assert job.preclaimed is None and redis_client.exists(keys.frame(fid))
    assert not redis_client.hlen(keys.running("n1"))


def test_no_claim_when_the_job_hash_is_gone(redis_client, fleet):
    worker, proc, store, keys = fleet
    (fid,) = put_frames(redis_client, keys, 1)
    redis_client.delete("rq:job:" + fid)
    assert dequeue(worker) is None  # RQ skips a vanished job...
    assert redis_client.exists(keys.frame(fid))  # ...and its frame stays for the orphan sweep
    assert not redis_client.hlen(keys.running("n1"))


def _store_frame(redis_client, keys, fid, camera="cam1"):
    env = FrameEnvelope(frame_id=fid, camera=camera, data=b"\xff\xd8jpeg", ts=time.time(),
                        max_age_s=30.0)
    FrameStore(redis_client, keys).put(env)
    return env


def test_a_job_whose_id_names_a_frame_it_does_not_carry_gives_that_frame_back(redis_client,
                                                                              fleet):
    worker, proc, store, keys = fleet
    _store_frame(redis_client, keys, "x1")
    _store_frame(redis_client, keys, "y1")
    # a forged job: its id looks like a re-queued job of x1, its frames name y1
    enqueue_frames(job_queue("alpr:frames", redis_client), [("y1", "cam1")], job_id="x1-r00abcd")
    job, queue = dequeue(worker)
    assert job.preclaimed[0] == "x1"
    worker.execute_job(job, queue)
    assert results(redis_client, keys)["y1"].status == "read"
    # x1 is back under its frame key, off this node, with a job of its own to carry it
    assert redis_client.exists(keys.frame("x1")) and not redis_client.exists(keys.held("x1"))
    assert not redis_client.hlen(keys.running("n1"))
    job, queue = dequeue(worker)
    assert frame_id_of_job(job.id) == "x1"
    worker.execute_job(job, queue)
    assert results(redis_client, keys)["x1"].status == "read"
    acct = store.accounting("cam1")
    assert acct["read"] == 2 and acct["in_flight"] == 0


def test_a_refused_job_with_a_frames_id_leaves_the_frame_to_its_own_job(redis_client, fleet):
    worker, proc, store, keys = fleet
    _store_frame(redis_client, keys, "z1")
    FrameQueue("alpr:frames", connection=redis_client, serializer=MsgpackSerializer).enqueue_call(
        "os.system", args=("echo pwned",), job_id="z1")
    job, queue = dequeue(worker)
    worker.execute_job(job, queue)
    assert int(redis_client.hget(keys.security, "refused_function")) == 1
    assert redis_client.exists(keys.frame("z1")) and not redis_client.hlen(keys.running("n1"))
    job, queue = dequeue(worker)  # the frame's re-queued job
    worker.execute_job(job, queue)
    assert results(redis_client, keys)["z1"].status == "read"


def test_rq_worker_key_heartbeat_is_throttled_in_the_frame_path(redis_client, fleet):
    worker, proc, store, keys = fleet
    worker.heartbeat()
    first = redis_client.hget(worker.key, "last_heartbeat")
    assert first is not None
    redis_client.hdel(worker.key, "last_heartbeat")
    worker.heartbeat()  # RQ's loop calls this around every job: no write within RQ_BEAT_S
    assert redis_client.hget(worker.key, "last_heartbeat") is None
    worker.heartbeat(77)  # a timeout (RQ's job-start beat) always goes through
    assert redis_client.hget(worker.key, "last_heartbeat") is not None


def test_rq_state_is_written_only_when_it_changes(redis_client, fleet):
    worker, proc, store, keys = fleet
    worker.set_state("idle")
    assert redis_client.hget(worker.key, "state") == b"idle"
    redis_client.hdel(worker.key, "state")
    worker.set_state("idle")
    assert redis_client.hget(worker.key, "state") is None and worker.get_state() == "idle"
    worker.set_state("busy")
    assert redis_client.hget(worker.key, "state") == b"busy"


def test_two_nodes_in_one_process_each_claim_for_their_own_node(redis_client):
    """The dequeue's claim rides on each worker's own queues (no module global, no
    thread-local): two nodes in one process each claim as themselves."""
    from alpr.retry import Retry
    from worker.metrics import Metrics
    from worker.node import build_frame_path

    keys = Keys("alpr:")
    store = FrameStore(redis_client, keys)
    workers = {}
    for node in ("n1", "n2"):
        path = build_frame_path(redis_client, store, keys, NullEngine(), node, ["alpr:frames"],
                                "alpr:frames", 1, Metrics(), Retry(retries=1, sleep=lambda s: None))
        workers[node] = FleetWorker([make_queue("alpr:frames", redis_client)], redis_client,
                                    path, name="%s.test" % node)
    first, second = put_frames(redis_client, keys, 2)
    job1, _ = dequeue(workers["n1"])
    job2, _ = dequeue(workers["n2"])
    assert (job1.preclaimed[0], job2.preclaimed[0]) == (first, second)
    assert redis_client.hexists(keys.running("n1"), first)
    assert redis_client.hexists(keys.running("n2"), second)
    for worker in workers.values():
        worker.processor.close()


def test_a_sigterm_landing_between_the_claim_and_the_run_lets_the_frame_finish(redis_client,
                                                                             fleet):
    """The handler runs wherever the main thread is: here, right after the dequeue's claim
    came back (as a SIGTERM landing there would). RQ would raise StopRequested and leave
    the claimed frame in running:<node> for the fleet watch; the node runs it, then stops."""
    import signal

    worker, proc, store, keys = fleet
    (fid,) = put_frames(redis_client, keys, 1)
    real = worker.claimer.claim_with_job

    def claim_then_signal(job_key, frame_id):
        got = real(job_key, frame_id)
        worker.request_stop(signal.SIGTERM, None)
        return got

    worker.claimer.job_class.claim_with_job = staticmethod(claim_then_signal)
    old = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        started = time.time()
        worker.work(burst=False, with_scheduler=False)
    finally:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
    assert time.time() - started < 10  # and it did stop
    assert results(redis_client, keys)[fid].status == "read"
    assert not redis_client.hlen(keys.running("n1"))


def test_a_sigterm_while_the_dequeue_waits_stops_within_one_poll(redis_client, fleet):
    """An idle node told to stop inside its blocking pop stops after that pop, not never."""
    import signal
    import threading

    worker, proc, store, keys = fleet
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    old = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        started = time.time()
        timer.start()
        worker.work(burst=False, with_scheduler=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
    assert time.time() - started < 0.3 + 2 * 1.0 + 1.0  # DEQUEUE_POLL_S is 1 s
