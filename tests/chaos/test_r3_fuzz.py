"""R3: malformed inputs against the worker and dispatcher entry points: 0 crashes, one error record each.

In-process (hypothesis): the worker's FrameProcessor.process_frame (a frame's claim -> engine ->
finish, wired as `alpr worker` wires it) on garbage/truncated/oversized msgpack, broken envelopes, bad images, odd unicode ids
and negative timestamps; the RQ job function's argument check; the dispatcher's step on
malformed results-stream entries. Then a smaller batch through a real `alpr worker` process.
"""
import time
import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope, decode_result
from alpr.retry import Retry
from alpr.settings import Settings
from bench.procs import wait_until
from chaos_helpers import FleetRun, crash_lines, figures, size
from malformed import (bad_images, malformed_frames, malformed_payloads,
                       malformed_result_fields, pack,
                       tiny_jpeg, wrong_types)
from worker.frame_engines import frame_engine_for
from worker.metrics import Metrics
from worker.node import build_frame_path

FUZZ = dict(suppress_health_check=list(HealthCheck), deadline=None, database=None,
            derandomize=False)
OUTCOMES = ("read", "stale")
IMAGE_TIME_LIMIT_S = 5.0  # a decompression bomb must be refused, not decoded for seconds


class Recorder(object):
    """Checks that each fuzzed frame got exactly one terminal record, and tallies outcomes."""

    def __init__(self, client, keys, store):
        self.client = client
        self.keys = keys
        self.store = store
        self.outcomes = {}
        self.slowest_s = 0.0

    def put(self, payload, frame_id, camera):
        env = FrameEnvelope(frame_id=frame_id, camera=camera, data=b"", max_age_s=30.0)
        self.store.put(env, payload=payload)
        return env.frame_id

    def check(self, frame_id, field, camera="fuzzcam"):
        assert field in OUTCOMES or field.startswith("failed:"), field
        last = self.client.xrevrange(self.keys.results, count=1)
        rec = decode_result(last[0][1])
        assert rec.frame_id == frame_id and rec.camera == camera
        if rec.status == "failed":
            assert rec.reason, "failure without a reason"
        assert self.store.in_flight(camera) == 0
        self.outcomes[field] = self.outcomes.get(field, 0) + 1


def make_processor(client, keys, engine):
    store = FrameStore(client, keys)
    path = build_frame_path(client, store, keys, engine, "fuzz-node", ["frames"], "frames", 1,
                            Metrics(), Retry(retries=2, sleep=lambda s: None))
    return path.processor, store


def test_r3_worker_envelopes_in_process(redis_client):
    keys = Keys("r3a:")
    proc, store = make_processor(redis_client, keys, frame_engine_for("null", Settings()))
    rec = Recorder(redis_client, keys, store)

    @settings(max_examples=size(800, 8000), **FUZZ)
    @given(frame=malformed_frames())
    def one(frame):
        payload, frame_id, camera = frame
        rec.put(payload, frame_id, camera)
        rec.check(frame_id, proc.process_frame(frame_id, camera), camera)

    one()
    totals = [store.accounting(c) for c in store.cameras()]
    in_flight = sum(a["in_flight"] for a in totals)
    figures("R3-worker-envelopes", outcomes=rec.outcomes, in_flight=in_flight,
            cameras=len(totals))
    assert in_flight == 0
    assert sum(v for k, v in rec.outcomes.items() if k.startswith("failed:bad_frame")) > 0


@pytest.fixture(scope="module")
def pipeline_engine():
    try:
        engine = frame_engine_for("pipeline", Settings())
    except ImportError as exc:
        pytest.skip("recognition pipeline not importable yet: %s" % exc)
    engine.warmup(1)
    return engine


def test_r3_envelope_naming_another_frame(redis_client):
    """Key says frame A, envelope says frame B: A must still end (failed), B must be untouched."""
    keys = Keys("r3e:")
    proc, store = make_processor(redis_client, keys, frame_engine_for("null", Settings()))
    victim = FrameEnvelope(frame_id="victim", camera="cam", data=tiny_jpeg(), max_age_s=30.0)
    store.put(victim)
    forged = FrameEnvelope(frame_id="victim", camera="cam", data=tiny_jpeg(), max_age_s=30.0)
    from alpr.protocol import encode_frame

    store.put(FrameEnvelope(frame_id="a", camera="cam", data=b"", max_age_s=30.0),
              payload=encode_frame(forged))
    field = proc.process_frame("a", "cam")
    acct = store.accounting("cam")
    figures("R3-mismatched-envelope", outcome=field, accounting=acct)
    assert field.startswith("failed:"), "a frame whose envelope names another frame was %s" % field
    assert redis_client.zscore(keys.inflight("cam"), "a") is None, "frame a stays in flight forever"
    assert redis_client.zscore(keys.inflight("cam"), "victim") is not None, "forged finish"


def test_r3_worker_images_in_process(redis_client, pipeline_engine):
    keys = Keys("r3b:")
    proc, store = make_processor(redis_client, keys, pipeline_engine)
    rec = Recorder(redis_client, keys, store)

    @settings(max_examples=size(200, 2000), **FUZZ)
    @given(image=bad_images(), camera=st.text(min_size=1, max_size=30).filter(
        lambda s: "\x00" not in s), ts=st.one_of(st.just(time.time()), st.floats(-1e12, 0)))
    def one(image, camera, ts):
        env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera=camera, data=image, ts=ts,
                            max_age_s=30.0)
        if ts > 0:
            env.ts = time.time()  # fresh frame: it must reach the engine
        store.put(env)
        started = time.time()
        field = proc.process_frame(env.frame_id, camera)
        elapsed = time.time() - started
        if field.startswith("failed:"):  # refused input: no inference may run on it
            rec.slowest_s = max(rec.slowest_s, elapsed)
            assert elapsed < IMAGE_TIME_LIMIT_S, "a bad image held the worker %.1f s" % elapsed
        rec.check(env.frame_id, field, camera)

    one()
    figures("R3-worker-images", outcomes=rec.outcomes, slowest_refusal_s=round(rec.slowest_s, 3))
    assert any(k.startswith("failed:bad_image") for k in rec.outcomes)


def test_r3_job_arguments_in_process(redis_client):
    """A frame job's argument check refuses malformed frame lists with ValueError (the
    worker's refusal, worker.jobs.refusal, parses them so); a valid list runs."""
    from alpr.frame_jobs import parse_frames

    keys = Keys("r3c:")
    proc, _ = make_processor(redis_client, keys, frame_engine_for("null", Settings()))
    tally = {"refused": 0, "ran": 0}

    @settings(max_examples=size(300, 2000), **FUZZ)
    @given(args=st.one_of(wrong_types, st.lists(st.one_of(wrong_types, st.lists(
        st.one_of(st.text(max_size=300), st.integers()), max_size=3)), max_size=300)))
    def one(args):
        try:
            out = proc.run_job(parse_frames(args))
        except ValueError:
            tally["refused"] += 1
            return
        tally["ran"] += 1
        assert isinstance(out, dict)

    try:
        one()
    finally:
        proc.close()
    figures("R3-job-arguments", **tally)
    assert tally["refused"] > 0


def test_r3_dispatcher_entries_in_process(redis_client):
    from dispatcher.cli import build_dispatcher

    settings_ = Settings(namespace="r3d:")
    disp = build_dispatcher(settings_, redis_client, consumer_name="fuzz")
    disp.start()
    keys = Keys("r3d:")

    @settings(max_examples=size(800, 8000), **FUZZ)
    @given(fields=malformed_result_fields())
    def one(fields):
        before = dict(disp.stats)
        redis_client.xadd(keys.results, fields)
        disp.step()  # raises on a crash; the test fails
        assert disp.stats["entries"] == before["entries"] + 1
        assert disp.stats.get("errors", 0) == 0

    one()
    disp.flush()
    pending = int(redis_client.xpending(keys.results, "dispatch")["pending"])
    figures("R3-dispatcher", stats=disp.stats, pending=pending)
    assert disp.stats["malformed"] > 0
    assert pending == 0, "malformed entries left pending would be re-read forever"


def test_r3_real_worker_process(redis_url, harness):
    """A smaller batch of malformed frames and jobs through a real `alpr worker` subprocess."""
    from rq.job import Job

    from enqueue import put_frame
    from alpr.frame_jobs import FUNC_NAME, job_queue

    count = size(150, 1000)
    client = redis.Redis.from_url(redis_url)
    run = FleetRun(redis_url, harness)
    keys = Keys(run.namespace)
    store = FrameStore(client, keys)
    queue = job_queue(keys.queue(run.queue), client)
    ids = []
    skipped = 0
    while len(ids) < count:
        uid = uuid.uuid4().hex
        payload, frame_id, camera = malformed_frames(uid, "r3cam").example()
        if (frame_id, camera) != (uid, "r3cam"):
            skipped += 1  # an envelope naming another frame: test_r3_envelope_naming_another_frame
            continue
        env = FrameEnvelope(frame_id=uid, camera="r3cam", data=b"", max_age_s=60)
        put_frame(client, keys, env, queue=queue.name, payload=payload)  # as the producer does
        ids.append(uid)
    images = [bad_images().example() for _ in range(count // 3)]
    for image in images:
        env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera="r3cam", data=image, max_age_s=60)
        put_frame(client, keys, env, queue=queue.name)
        ids.append(env.frame_id)
    # malformed RQ jobs: garbage job data, wrong argument types, a foreign function
    for i in range(10):
        job_id = "garbage-%d" % i
        client.hset(Job.redis_job_namespace_prefix + job_id, mapping={
            "data": pack([1, 2, 3])[:i] + b"\xc1", "status": "queued", "origin": queue.name})
        client.rpush(queue.key, job_id)
    queue.enqueue_call(FUNC_NAME, args=(12345,))
    queue.enqueue_call(FUNC_NAME, args=([["x" * 500, "cam"]],))
    queue.enqueue_call("os.getcwd", args=())
    worker = run.worker("r3-w0", "pipeline" if _pipeline_ok() else "null", "--no-node-queue")
    total = len(ids)

    def settled():
        acct = store.accounting("r3cam")
        return acct["in_flight"] == 0 and client.llen(queue.key) == 0

    wait_until(settled, 120, 0.2, "the worker to answer every malformed frame")
    time.sleep(0.5)
    status = run.status()
    acct = status["cameras"]["r3cam"]
    figures("R3-real-worker", frames=total, skipped_mismatched=skipped, accounting=acct, security=status["security"])
    assert worker.alive(), worker.log_tail(40)
    assert acct["produced"] == total and acct["in_flight"] == 0 and status["invariant_ok"]
    assert acct["failed"] > 0
    assert status["security"].get("refused_function", 0) >= 1
    assert not crash_lines(worker), crash_lines(worker)


def _pipeline_ok():
    try:
        import engines.models  # noqa: F401
    except ImportError:
        return False
    return True

