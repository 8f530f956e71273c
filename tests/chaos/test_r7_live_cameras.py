"""R7: live cameras stay live: a paced producer sends the newest frame, stamped at capture.

A real `alpr produce URL --fps 5` reads a 25-fps live camera whose frames encode their index
(HTTP MJPEG from a server in this test; RTSP from a real GStreamer RTSP server): the source
index of every frame sent is compared with the camera's newest index at the moment the frame
was put into Redis (the in-flight score): the newest frame the MJPEG camera had written, the
RTSP camera's clock (t - t0) x 25. It must stay within 3 frames. The MJPEG camera
also stalls once (socket open, silent, longer than the producer's stall timeout): the
producer reopens it and is as fresh as before afterwards. Short form 10-14 s per camera
(`make test`), 60 s under `make chaos`.
"""
import os
import shutil
import subprocess
import time

import pytest
import redis

from alpr.keys import Keys
from alpr.protocol import decode_frame
from bench.procs import free_port, wait_until
from chaos_helpers import FleetRun, crash_lines, figures, size
from live_cameras import MjpegCamera, decode_index

CAMERA_FPS = 25
SEND_FPS = 5
MAX_LAG = 3  # frames behind the camera's newest, at the moment of the put
SYSTEM_PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))


def _produce(run, url, frames):
    return run.procs.spawn("r7-prod", "produce", url, *(run.common() + [
        "--camera", "live", "--fps", SEND_FPS, "--queue", run.queue, "--frames", frames,
        "--max-age", 600, "--inflight-cap", 100000, "--json"]))


def _sent(client, keys, index_at):
    """(put time, capture stamp, source index, lag) of every frame the producer put."""
    import cv2
    import numpy as np

    out = []
    for frame_id, put in client.zrange(keys.inflight("live"), 0, -1, withscores=True):
        env = decode_frame(client.get(keys.frame(frame_id.decode())))
        image = cv2.imdecode(np.frombuffer(env.data, np.uint8), cv2.IMREAD_GRAYSCALE)
        index = decode_index(image)
        out.append((put, env.ts, index, index_at(put) - index))
    return sorted(out)


def _check(name, rows, frames, producer, extra):
    lags = [r[3] for r in rows]
    stamp_ms = [(r[0] - r[1]) * 1000.0 for r in rows]
    gaps = [b[0] - a[0] for a, b in zip(rows, rows[1:])]
    figures(name, frames=len(rows), lag_max=max(lags), lag_min=min(lags),
            lag_mean=round(sum(lags) / float(len(lags)), 2),
            capture_to_put_ms_max=round(max(stamp_ms), 1),
            send_gap_s_median=round(sorted(gaps)[len(gaps) // 2], 3), **extra)
    assert len(rows) == frames, "sent %d of %d frames" % (len(rows), frames)
    assert max(lags) <= MAX_LAG, "a sent frame was %d frames behind the camera" % max(lags)
    assert min(lags) >= -1  # (the put time is taken after the camera's stamp: never ahead)
    assert all(r[1] <= r[0] for r in rows), "stamped after the put: not a capture stamp"
    assert len(set(r[2] for r in rows)) == len(rows), "a camera frame was sent twice"
    assert not crash_lines(producer)


@pytest.fixture
def mjpeg_camera():
    pytest.importorskip("cv2")
    camera = MjpegCamera(CAMERA_FPS)
    yield camera
    camera.close()


def test_r7_mjpeg_camera_stays_live_and_survives_a_stall(redis_url, harness, mjpeg_camera):
    seconds = size(14, 60)
    stall_s = 6.5  # longer than the producer's stall timeout (alpr.defaults.CAMERA_STALL_S 5 s)
    run = FleetRun(redis_url, harness)
    client = redis.Redis.from_url(redis_url)
    keys = Keys(run.namespace)
    frames = int((seconds - stall_s) * SEND_FPS)
    producer = _produce(run, mjpeg_camera.url, frames)
    wait_until(lambda: client.zcard(keys.inflight("live")) >= 2 * SEND_FPS, 60, 0.05,
               "the producer to send")
    time.sleep(1.0)
    mjpeg_camera.paused.set()  # the camera goes silent with its socket open
    time.sleep(stall_s)
    mjpeg_camera.paused.clear()
    assert producer.wait(seconds + 60) == 0, producer.log_tail()
    rows = _sent(client, keys, mjpeg_camera.newest_at)
    reopened = "stream ended or stalled" in producer.log_text()
    _check("R7-mjpeg", rows, frames, producer,
           dict(seconds=seconds, stall_s=stall_s, reopened_after_stall=reopened))
    assert reopened, "the stalled stream was not reopened"


def _rtsp_available():
    if not os.path.exists(SYSTEM_PY):
        return "no system python3 at %s" % SYSTEM_PY
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
             "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
             "assert Gst.ElementFactory.find('rtpjpegpay') and Gst.ElementFactory.find('jpegenc')")
    if subprocess.call([SYSTEM_PY, "-c", probe], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) != 0:
        return ("GStreamer RTSP server not installed (make rtsp: gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-rtsp gstreamer1.0-plugins-good python3-gi)")
    return ""


def test_r7_rtsp_camera_stays_live(redis_url, harness):
    pytest.importorskip("cv2")
    missing = _rtsp_available()
    if missing:
        pytest.skip(missing)
    seconds = size(10, 60)
    port = free_port()
    camera = harness.spawn_argv("r7-rtsp", [SYSTEM_PY, os.path.join(HERE, "rtsp_camera.py"),
                                            str(port), str(CAMERA_FPS)])
    wait_until(lambda: "READY" in camera.log_text(), 30, 0.05, "the RTSP server")
    t0 = float(camera.log_text().split("READY", 1)[1].split()[0])
    run = FleetRun(redis_url, harness)
    client = redis.Redis.from_url(redis_url)
    keys = Keys(run.namespace)
    frames = seconds * SEND_FPS
    producer = _produce(run, "rtsp://127.0.0.1:%d/cam" % port, frames)
    assert producer.wait(seconds + 60) == 0, producer.log_tail()
    rows = _sent(client, keys, lambda t: int((t - t0) * CAMERA_FPS))
    _check("R7-rtsp", rows, frames, producer, dict(seconds=seconds))
    assert camera.alive()
