"""`alpr bench sweep`: what one camera's lost-frame sweep costs beside a short and a long queue.

The dispatcher's fleet watch sweeps every camera once a second (FrameStore.requeue_orphans:
stored frames whose job vanished; FrameStore.sweep_lost: in-flight frames nobody holds). A
backlog must not make it dearer: this puts ``--camera-frames`` frames of one swept camera
(some waiting, one claimed, one orphan: its job popped and never claimed) beside a backlog of
``--small`` then ``--large`` frames of other cameras queued on the same RQ queue, each frame
and job written as the producer does (FrameStore.put with RQ's enqueue, in bulk pipelines),
and times both calls for the swept camera. The ratio large/small should stay near 1.
"""
import time
import uuid
from typing import Any, Dict, List, Optional

import click

from alpr.stats import percentile
from bench.redis_server import RedisServer
from bench.report import emit, report_options

BULK = 1000  # frames per bulk pipeline while filling the backlog
BACKLOG_CAMERAS = 100  # the backlog is spread over this many cameras (the cap does the same)
SUSPECT_S = 3600.0  # the sweep's after_s here: suspects never age into orphans during a run


def fill(client: Any, store: Any, queue: Any, count: int, prefix: str) -> None:
    """``count`` frames (and their RQ jobs) of the backlog cameras, written in bulk."""
    from alpr.protocol import FrameEnvelope
    from producer.sender import job_commands, replay

    ttls = {"timeout": 60, "result_ttl": 10, "failure_ttl": 3600}
    now = time.time()
    for start in range(0, count, BULK):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + BULK)):
            camera = "%s-%d" % (prefix, i % BACKLOG_CAMERAS)
            env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera=camera, data=b"\xff\xd8",
                                ts=now, max_age_s=600.0)
            commands = job_commands(client, queue, env.frame_id, camera, ttls)
            store.put(env, queue_job_fn=replay(commands), now=now, client=pipe,
                      queue_key=queue.key)
        pipe.execute()


def swept_camera(client: Any, store: Any, queue: Any, keys: Any, frames: int) -> str:
    """The camera whose sweep is timed: waiting frames, one claimed, one orphan."""
    from alpr.protocol import FrameEnvelope
    from worker.drain import Drainer
    from alpr.frame_jobs import enqueue_frames, job_queue

    camera = "swept"
    own = "%snode-swept" % keys.ns

    own_queue = job_queue(own, client)
    past = time.time() - 2 * SUSPECT_S  # old enough for every sweep to look at them
    ids = []  # type: List[str]
    for i in range(frames):
        env = FrameEnvelope(frame_id=uuid.uuid4().hex, camera=camera, data=b"\xff\xd8",
                            ts=past, max_age_s=600.0)
        target = own_queue if i < 2 else queue
        store.put(env, queue_job_fn=lambda pipe, e=env, q=target: enqueue_frames(
            q, [(e.frame_id, e.camera)], pipeline=pipe, job_id=e.frame_id), now=past,
            queue_key=target.key)
        ids.append(env.frame_id)
    drained = Drainer(client, keys.queued).pop([own])  # popped, never claimed: an orphan
    assert drained is not None
    store.claim(Drainer(client, keys.queued).pop([own]).job_id, camera, "bench-node")
    client.sadd(keys.nodes, "bench-node")
    return camera


def time_sweep(store: Any, camera: str, repeat: int) -> Dict[str, float]:
    """Median and p90 ms of requeue_orphans + sweep_lost for one camera. The waiting frames
    and the orphan stay suspects (never returned: SUSPECT_S), so each call does the same work."""
    costs = []  # type: List[float]
    now = time.time()
    for _ in range(repeat):
        t0 = time.perf_counter()
        store.requeue_orphans(camera, now=now, after_s=SUSPECT_S)
        store.sweep_lost(camera, now=now, grace=3.0, job_prefix="")
        costs.append((time.perf_counter() - t0) * 1000.0)
    return {"ms_p50": percentile(costs, 50), "ms_p90": percentile(costs, 90)}


def calls_per_sweep(client: Any, store: Any, camera: str) -> Dict[str, int]:
    """Redis commands one sweep of the camera runs (Lua's included), by command: from
    INFO commandstats around one call of each (CONFIG RESETSTAT first)."""
    client.config_resetstat()
    now = time.time()
    store.requeue_orphans(camera, now=now, after_s=SUSPECT_S)
    store.sweep_lost(camera, now=now, grace=3.0, job_prefix="")
    stats = client.info("commandstats")
    out = {}  # type: Dict[str, int]
    for name, row in stats.items():
        command = name.split("_", 1)[1] if name.startswith("cmdstat_") else name
        if command not in ("info", "config|resetstat", "config"):
            out[command] = int(row.get("calls", 0))
    return out


def measure(redis_url: str, small: int, large: int, camera_frames: int, repeat: int
            ) -> Dict[str, Any]:
    from alpr.frame_store import FrameStore
    from alpr.keys import Keys
    from alpr.redis_conn import connect
    from alpr.frame_jobs import job_queue

    client = connect(redis_url)
    keys = Keys("bench-sweep-%s:" % uuid.uuid4().hex[:6])
    store = FrameStore(client, keys)
    queue = job_queue(keys.queue("frames"), client)
    try:
        camera = swept_camera(client, store, queue, keys, camera_frames)
        out = {"camera_frames": camera_frames, "repeat": repeat}  # type: Dict[str, Any]
        have = 0
        for label, size in (("small", small), ("large", large)):
            fill(client, store, queue, size - have, "backlog")
            have = size
            depth = int(client.llen(queue.key))
            out[label] = dict(time_sweep(store, camera, repeat), queued=depth,
                              redis_calls=calls_per_sweep(client, store, camera))
        out["ratio_p50"] = out["large"]["ms_p50"] / max(1e-9, out["small"]["ms_p50"])
        return out
    finally:
        from bench.queue import _drop_namespace

        _drop_namespace(client, keys.ns, "")


@click.command("sweep")
@click.option("--redis-url", default=None, help="Redis to measure (default: start a local one).")
@click.option("--small", type=int, default=1000, show_default=True, help="Short backlog (frames).")
@click.option("--large", type=int, default=100000, show_default=True, help="Long backlog (frames).")
@click.option("--camera-frames", type=int, default=8, show_default=True,
              help="Frames in flight on the swept camera (the default cap).")
@click.option("--repeat", type=int, default=50, show_default=True, help="Sweeps timed per backlog.")
@report_options
def sweep_cmd(redis_url: Optional[str], small: int, large: int, camera_frames: int, repeat: int,
              as_json: bool, plot_path: Optional[str]) -> None:
    """Time one camera's orphan + lost sweep beside a short and a long queue; print the ratio."""
    local = None
    if redis_url is None:
        local = RedisServer().start()
        redis_url = local.url
    try:
        res = measure(redis_url, small, large, max(3, camera_frames), max(1, repeat))
    finally:
        if local is not None:
            local.cleanup()
    rows = [[res[k]["queued"], res[k]["ms_p50"], res[k]["ms_p90"],
             sum(res[k]["redis_calls"].values())] for k in ("small", "large")]
    emit(res, ["frames queued", "sweep ms p50", "sweep ms p90", "redis commands"], rows, as_json,
         title="one camera's sweep (requeue_orphans + sweep_lost), %d frames in flight"
         % res["camera_frames"],
         notes=["ratio large/small p50: %.2f" % res["ratio_p50"]])
