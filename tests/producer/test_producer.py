"""Producer on a real Redis: sources, backpressure (drop oldest, counted), bad frames, the CLI."""
import json
import os

import pytest

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import decode_frame, decode_result
from alpr.retry import Retry
from producer.cli import pace, produce_cmd
from producer.sender import FrameSender
from producer.sources import CaptureSource, FolderSource, SourceFrame, open_source

KEYS = Keys("alpr:")


def jpeg(width=64, height=48, value=128):
    import cv2
    import numpy as np

    img = np.full((height, width, 3), value, np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def sender(redis_client, **kw):
    return FrameSender(redis_client, KEYS, "frames", "cam9", Retry(retries=1, sleep=lambda s: None),
                       **kw)


def test_store_and_enqueue_together_keys_only_in_job(redis_client):
    s = sender(redis_client, max_age_s=7.0)
    assert s.send(SourceFrame(jpeg=jpeg(), truth=["XYZ123"]), seq=3)
    (job_id,) = [j.decode() for j in redis_client.lrange("rq:queue:frames", 0, -1)]
    env = decode_frame(redis_client.get(KEYS.frame(job_id)))
    assert env.camera == "cam9" and env.seq == 3 and env.truth == ["XYZ123"]
    assert 6000 < redis_client.pttl(KEYS.frame(job_id)) <= 7000
    assert len(redis_client.hget("rq:job:%s" % job_id, "data")) < 300
    assert FrameStore(redis_client, KEYS).accounting("cam9")["in_flight"] == 1


def test_next_frames_job_is_built_ahead_and_a_retried_put_replays_it(redis_client):
    s = sender(redis_client)
    assert s.send(SourceFrame(jpeg=jpeg()), seq=0)
    ahead_id = s._next_job[0]  # built after the put, before the next frame exists
    assert not redis_client.exists("rq:job:" + ahead_id)  # recorded, not sent
    real_put, calls = s.store.put, []

    def put_failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            import redis

            raise redis.exceptions.ConnectionError("lost before the MULTI was sent")
        return real_put(*args, **kwargs)

    s.store.put = put_failing_once
    assert s.send(SourceFrame(jpeg=jpeg()), seq=1)
    assert len(calls) == 2
    ids = [j.decode() for j in redis_client.lrange("rq:queue:frames", 0, -1)]
    assert ids[1] == ahead_id and len(ids) == 2  # the retry queued the job once, whole
    assert redis_client.hget("rq:job:" + ahead_id, "status") == b"queued"
    assert decode_frame(redis_client.get(KEYS.frame(ahead_id))).seq == 1
    # a bad frame uses up the id built for it, with no job
    bad_id = s._next_job[0]
    assert not s.send(SourceFrame(error="camera hiccup"), seq=2)
    assert redis_client.llen("rq:queue:frames") == 2 and not redis_client.exists("rq:job:" + bad_id)
    assert FrameStore(redis_client, KEYS).accounting("cam9")["failed"] == 1


def test_backpressure_drops_oldest_and_counts(redis_client):
    s = sender(redis_client, inflight_cap=3)
    for i in range(10):
        s.send(SourceFrame(jpeg=jpeg()), seq=i)
    store = FrameStore(redis_client, KEYS)
    acc = store.accounting("cam9")
    assert acc == {"produced": 10, "read": 0, "stale": 0, "dropped": 7, "failed": 0,
                   "in_flight": 3}
    assert s.stats["dropped"] == 7
    kept = [decode_frame(redis_client.get(KEYS.frame(i.decode()))).seq
            for i in redis_client.zrange(KEYS.inflight("cam9"), 0, -1)]
    assert kept == [7, 8, 9]  # latest frames win
    dropped = [decode_result(f) for _, f in redis_client.xrange(KEYS.results)]
    assert [r.status for r in dropped] == ["dropped"] * 7
    assert redis_client.dbsize() < 40  # memory bounded: 3 frames + bookkeeping, not 10 frames


def test_bad_source_frame_is_accounted_and_producer_goes_on(redis_client):
    s = sender(redis_client)
    assert not s.send(SourceFrame(error="not a decodable image"), seq=0)
    assert s.send(SourceFrame(jpeg=b"not a jpeg"), seq=1)  # passed through: the worker judges it
    assert s.send(SourceFrame(jpeg=jpeg()), seq=2)
    counts = FrameStore(redis_client, KEYS).counts("cam9")
    assert counts["failed:bad_source"] == 1 and counts["produced"] == 3


def test_folder_source_truth_sidecar_and_bad_file(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg())
    (tmp_path / "a.txt").write_text("a.jpg\t1\t2\t30\t10\tabc123\n")
    (tmp_path / "b.png").write_bytes(b"broken png")
    frames = list(FolderSource(str(tmp_path)))
    assert frames[0].jpeg is not None and frames[0].truth == ["ABC123"]
    assert frames[1].error and frames[1].name == "b.png"
    looping = iter(FolderSource(str(tmp_path), loop=True))
    assert [next(looping).name for _ in range(5)] == ["a.jpg", "b.png", "a.jpg", "b.png", "a.jpg"]


def test_video_file_source(tmp_path):
    import cv2
    import numpy as np

    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    frames = list(open_source(path))
    assert isinstance(open_source(path), CaptureSource) and len(frames) == 12
    assert frames[0].image.shape == (48, 64, 3)


def test_pace_every_nth_and_frames_limit(redis_client):
    s = sender(redis_client, inflight_cap=100)
    frames = (SourceFrame(jpeg=jpeg(value=v)) for v in range(20))
    out = pace(frames, s, fps=0, every=3, max_frames=5, should_stop=lambda: False)
    assert out["frames"] == 5 and out["sent"] == 5 and out["put_ms_p50"] > 0


def test_cli_folder_and_video(redis_url, redis_client, tmp_path):
    from click.testing import CliRunner

    from dispatcher.fleet_watch import rq_queue_key

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        (folder / ("%d.jpg" % i)).write_bytes(jpeg(value=i * 40))
    result = CliRunner().invoke(produce_cmd, [str(folder), "--redis-url", redis_url, "--camera",
                                              "gate", "--fps", "0", "--json", "--resize", "32"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["sent"] == 4 and summary["camera"] == "gate"
    env = decode_frame(redis_client.get(KEYS.frame(
        redis_client.lrange(rq_queue_key(KEYS.queue("frames")), 0, 0)[0].decode())))
    import cv2
    import numpy as np

    assert cv2.imdecode(np.frombuffer(env.data, np.uint8), cv2.IMREAD_COLOR).shape[1] == 32


def test_scenes_source_labels_frames():
    """`alpr produce scenes`: the name the console script lends from evaluation/."""
    from alpr.cli import named_sources

    pytest.importorskip("evaluation.scenes")
    frames = []
    for frame in open_source("scenes", seed=1, repeat=2, named=named_sources()):
        frames.append(frame)
        if len(frames) == 4:
            break
    assert frames[0].truth == frames[1].truth and frames[0].truth != frames[2].truth
    assert frames[0].image.ndim == 3


def test_live_url_reconnects_with_backoff(tmp_path):
    """An HTTP camera whose stream ends is reopened (with backoff) and keeps delivering frames."""
    import socketserver
    import threading
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(tmp_path / "cam.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()

    class Quiet(SimpleHTTPRequestHandler):
        def translate_path(self, path):  # serve tmp_path (no `directory=` on Python 3.6)
            return os.path.join(str(tmp_path), os.path.basename(path.split("?")[0]))

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slept = []
    try:
        from alpr.retry import ExponentialBackoff
        from producer.sources import CameraLost

        url = "http://127.0.0.1:%d/cam.avi" % server.server_address[1]
        retry = Retry(ExponentialBackoff(0.01, 0.05), retries=0, supported_errors=(CameraLost,),
                      sleep=slept.append)
        source = open_source(url)
        assert isinstance(source, CaptureSource) and source.live
        source.retry = retry
        frames = []
        for frame in source:
            frames.append(frame)
            if len(frames) == 12:  # more than the 5-frame stream holds: it reconnected
                break
        # a stream that delivered frames is reopened at once; one that keeps failing backs off
        assert source.grabber().reconnects >= 2 and all(f.image.shape == (48, 64, 3) for f in frames)
        assert all(f.ts is not None and f.index >= 0 for f in frames)  # capture-stamped
        from redis_server import free_port

        url = "http://127.0.0.1:%d/cam.avi" % free_port()  # nobody listens there
        dead = Retry(ExponentialBackoff(0.0, 0.0), retries=2, supported_errors=(CameraLost,),
                     sleep=lambda s: None)
        gone = CaptureSource(url, live=True, retry=dead)
        with pytest.raises(CameraLost):
            next(iter(gone))
    finally:
        server.shutdown()
        server.server_close()
