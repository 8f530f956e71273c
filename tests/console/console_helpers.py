"""Helpers of the console tests: worker results written the way a worker writes them (a
real frame put, a ResultRecord with plate crops and a snapshot finished through FrameStore),
a real Dispatcher running in a thread, and a real `alpr serve` process."""
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import cv2
import numpy as np

from alpr.frame_store import FrameStore
from alpr.keys import Keys
from alpr.protocol import FrameEnvelope, ResultRecord
from redis_server import free_port
from testenv import subprocess_env

FRAME_W, FRAME_H = 1280, 720  # the camera frame the box is in
PLATE_BOX = [520, 470, 760, 530]  # x1, y1, x2, y2 in the camera frame
SNAPSHOT_SCALE = 0.5  # the worker's frame snapshot is half size


def plate_image(text, width=240, height=60):
    """A plate-looking picture: dark text on white, as a crop would show it."""
    img = np.full((height, width, 3), 245, dtype=np.uint8)
    cv2.rectangle(img, (1, 1), (width - 2, height - 2), (30, 30, 30), 2)
    cv2.putText(img, text, (12, int(height * 0.72)), cv2.FONT_HERSHEY_SIMPLEX,
                height / 42.0, (20, 20, 20), 3, cv2.LINE_AA)
    return img


def scene(text):
    """A camera frame: a grey road, a car-coloured block and the plate at PLATE_BOX."""
    img = np.full((FRAME_H, FRAME_W, 3), 90, dtype=np.uint8)
    img[FRAME_H // 2:, :] = (70, 72, 75)
    cv2.rectangle(img, (420, 300), (860, 600), (120, 60, 40), -1)
    x1, y1, x2, y2 = PLATE_BOX
    img[y1:y2, x1:x2] = cv2.resize(plate_image(text), (x2 - x1, y2 - y1))
    return img


def jpeg(img, quality=80):
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def finish_frame(frames, camera, text, conf=0.93):
    """Produce one frame and finish it as a worker does: a read with its plate crop, and
    the frame snapshot (half size) in the record."""
    frame_id = uuid.uuid4().hex[:12]
    ts = time.time()
    full = scene(text)
    frames.put(FrameEnvelope(frame_id=frame_id, camera=camera, data=jpeg(full), ts=ts,
                             max_age_s=30.0))
    x1, y1, x2, y2 = PLATE_BOX
    read = {"text": text, "confidence": conf, "box": list(PLATE_BOX), "region": "eu",
            "crop": jpeg(full[y1:y2, x1:x2], 85)}
    snapshot = cv2.resize(full, (int(FRAME_W * SNAPSHOT_SCALE), int(FRAME_H * SNAPSHOT_SCALE)))
    frames.finish(ResultRecord(frame_id=frame_id, camera=camera, status="read", ts=ts,
                               node="node-a", reads=[read], frame_jpeg=jpeg(snapshot, 70),
                               frame_scale=SNAPSHOT_SCALE))
    return frame_id


class DispatcherThread(object):
    """A real Dispatcher (consumer group, grouping, known plates from the store, the store
    sink with evidence) stepping in a thread, as `alpr dispatch` does in its process."""

    def __init__(self, redis_client, db_url, evidence_root, window_s=0.4):
        from alpr.retry import standard_retry
        from dispatcher.consumer import ResultsConsumer
        from dispatcher.grouping import Deduper, Grouper
        from dispatcher.known_plates import KnownPlates
        from dispatcher.recent import RecentCache
        from dispatcher.service import Dispatcher
        from store import open_store
        from store.evidence import EvidenceDir
        from store.sink import StoreSink

        self.keys = Keys("alpr:")
        self.frames = FrameStore(redis_client, self.keys, results_maxlen=10000, max_age_s=30.0)
        self.sink = StoreSink(open_store(db_url), EvidenceDir(evidence_root))
        known = KnownPlates().follow(self.sink.known_plates, 0.2)
        consumer = ResultsConsumer(redis_client, self.keys.results, consumer="console-test",
                                   block_ms=100, claim_idle_ms=60000)
        self.emitted = {}  # plate -> time.time() when the dispatcher emitted its event
        self.events = []
        self.dispatcher = Dispatcher(redis_client, self.keys, consumer, Grouper(window_s, 0.8),
                                     Deduper(2.0, 0.8), RecentCache(redis_client, self.keys,
                                                                    3600.0),
                                     known=known, sink=self.sink, on_event=self._on_event)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.dispatcher.run,
                                       args=(self.stopping.is_set, standard_retry(
                                           should_stop=self.stopping.is_set)), daemon=True)

    def _on_event(self, event):
        self.emitted[event["plate"]] = time.time()
        self.events.append(event)

    def start(self):
        self.thread.start()
        return self

    def vehicle(self, camera, text, frames=2):
        """One car passing: `frames` reads of `text` a moment apart."""
        for _ in range(frames):
            finish_frame(self.frames, camera, text)
            time.sleep(0.05)

    def wait_event(self, plate, timeout=10.0):
        deadline = time.time() + timeout
        while plate not in self.emitted:
            assert time.time() < deadline, "dispatcher emitted no event for %s" % plate
            time.sleep(0.02)
        return [e for e in self.events if e["plate"] == plate][-1]

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        self.sink.close()


class Server(object):
    """`alpr serve` as a real process (uvicorn) on a free port."""

    def __init__(self, db_url, redis_url, data_dir, args=(), name="127.0.0.1"):
        self.port = free_port()
        self.base = "http://%s:%d" % (name, self.port)  # bound to 127.0.0.1 (the default)
        self.log = open(os.path.join(data_dir, "serve-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alpr", "serve", "--db", db_url, "--redis-url", redis_url,
             "--data-dir", data_dir, "--port", str(self.port)] + list(args),
            env=subprocess_env(), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(self.base + "/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert self.proc.poll() is None and time.time() < deadline, \
                "alpr serve did not start; see %s" % self.log.name
            time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
