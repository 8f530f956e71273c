"""Put frames into the fleet: envelope under its own key (TTL = max age) + an RQ job naming it.

One MULTI per frame (frame key, in-flight entry, produced counter, RQ job), then the
per-camera backpressure cap (drop oldest unstarted, counted). The puts go through alpr.retry
(a MULTI, which redis-py 4.3 does not resend itself; forever until stop), so a Redis outage
pauses the producer instead of killing it; single commands ride on the client's own Retry.
"""
import logging
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alpr.frame_jobs import enqueue_frames, job_queue
from alpr.frame_store import FrameStore
from alpr.jpeg_encoding import encode_jpeg as encode_picture
from alpr.keys import Keys
from alpr.protocol import STATUS_FAILED, FrameEnvelope, ResultRecord, encode_frame
from alpr.retry import Retry
from producer.sources import SourceFrame

log = logging.getLogger(__name__)


def encode_jpeg(frame: SourceFrame, quality: int, max_width: int = 0) -> bytes:
    """JPEG bytes of a source frame: pass-through when possible, else (resize and) encode
    with restart markers so workers decode it on several cores (alpr.jpeg_encoding)."""
    if frame.jpeg is not None and not max_width:
        return frame.jpeg
    import cv2
    import numpy as np

    image = frame.image
    if image is None:
        image = cv2.imdecode(np.frombuffer(frame.jpeg or b"", np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("not a decodable image")
    if max_width and image.shape[1] > max_width:
        height = max(1, int(round(image.shape[0] * max_width / float(image.shape[1]))))
        image = cv2.resize(image, (int(max_width), height), interpolation=cv2.INTER_AREA)
    return encode_picture(image, quality)


class FrameSender(object):
    """Sends one camera's frames: store + enqueue in one MULTI, then enforce the in-flight cap."""

    def __init__(self, redis_client: Any, keys: Keys, queue_name: str, camera: str, retry: Retry,
                 site: str = "", producer_id: str = "", max_age_s: float = 5.0,
                 inflight_cap: Optional[int] = 8, jpeg_quality: int = 90, max_width: int = 0,
                 results_maxlen: int = 100000, job_timeout_s: int = 60, result_ttl_s: int = 10,
                 failure_ttl_s: int = 3600, regions: Optional[Sequence[str]] = None) -> None:
        self.redis = redis_client
        self.regions = list(regions) if regions else None  # the camera's plate regions
        self.keys = keys
        self.store = FrameStore(redis_client, keys, results_maxlen, max_age_s)
        self.queue = job_queue(queue_name, redis_client, job_timeout_s)
        self.camera = camera
        self.retry = retry
        self.site = site
        self.producer_id = producer_id or "producer-%s" % uuid.uuid4().hex[:6]
        self.max_age_s = float(max_age_s)
        self.inflight_cap = None if inflight_cap is None else int(inflight_cap)  # None: no cap
        self.jpeg_quality = int(jpeg_quality)
        self.max_width = int(max_width)
        self.job_ttls = {"timeout": int(job_timeout_s), "result_ttl": int(result_ttl_s),
                         "failure_ttl": int(failure_ttl_s)}
        self.stats = {"sent": 0, "dropped": 0, "bad": 0, "bytes": 0}  # type: Dict[str, int]
        self.put_ms = []  # type: List[float]
        self._next_job = None  # type: Optional[Tuple[str, List[Any]]]

    def send(self, frame: SourceFrame, seq: int, ts: Optional[float] = None) -> bool:
        """Send one frame; a bad one is produced-and-failed (accounted), never raised.

        The frame's id and its RQ job's commands were built after the previous frame, while
        the source waited for this one (RQ's job building is most of a put's own CPU time);
        the next ones are built when this frame is out.
        """
        ts = time.time() if ts is None else ts
        try:
            return self._send(frame, seq, ts)
        finally:
            self.prepare_next()

    def prepare_next(self) -> None:
        """Build the next frame's id and RQ job commands now (off its path), if not yet built."""
        if self._next_job is None:
            frame_id = uuid.uuid4().hex
            self._next_job = (frame_id, job_commands(self.redis, self.queue, frame_id,
                                                     self.camera, self.job_ttls))

    def _send(self, frame: SourceFrame, seq: int, ts: float) -> bool:
        self.prepare_next()  # the first frame (or one after an error) builds its own
        frame_id, commands = self._next_job
        self._next_job = None
        if frame.error:
            self._bad(frame_id, seq, ts, frame.error, frame.truth)
            return False
        try:
            data = encode_jpeg(frame, self.jpeg_quality, self.max_width)
        except Exception as exc:  # cv2 errors on odd frames: count, go on
            self._bad(frame_id, seq, ts, str(exc), frame.truth)
            return False
        env = FrameEnvelope(frame_id=frame_id, camera=self.camera, data=data, ts=ts, seq=seq,
                            site=self.site, producer=self.producer_id, max_age_s=self.max_age_s,
                            truth=frame.truth,
                            regions=getattr(frame, "regions", None) or self.regions)
        dropped = self.put(env, commands=commands)
        self.stats["sent"] += 1
        self.stats["bytes"] += len(data)
        self.stats["dropped"] += len(dropped)
        return True

    def put(self, env: FrameEnvelope, payload: Optional[bytes] = None,
            commands: Optional[List[Any]] = None) -> List[str]:
        """Store one envelope with its RQ job (id = the frame id) in one MULTI, then the cap;
        the ids the cap dropped. ``commands``: the job's commands built ahead (job_commands),
        else built now; ``payload``: the stored bytes (default: the encoded envelope)."""
        if commands is None:
            commands = job_commands(self.redis, self.queue, env.frame_id, env.camera,
                                    self.job_ttls)
        payload = encode_frame(env) if payload is None else payload
        started = time.perf_counter()
        dropped = self.retry.call(self.store.put, env, replay(commands), payload, None,
                                  self.inflight_cap, queue_key=self.queue.key)
        self.put_ms.append((time.perf_counter() - started) * 1000.0)
        if len(self.put_ms) > 4096:
            del self.put_ms[:2048]
        return dropped

    def _bad(self, frame_id: str, seq: int, ts: float, error: str,
             truth: Optional[List[str]]) -> None:
        """A frame the camera delivered broken: counted as produced, then failed:bad_source."""
        self.stats["bad"] += 1
        log.warning("camera %s: bad frame %d: %s", self.camera, seq, error)
        env = FrameEnvelope(frame_id=frame_id, camera=self.camera, data=b"", ts=ts, seq=seq,
                            site=self.site, producer=self.producer_id, max_age_s=self.max_age_s)
        record = ResultRecord(frame_id=frame_id, camera=self.camera, status=STATUS_FAILED,
                              node="", reason="bad_source: %s" % error[:200], ts=ts, seq=seq,
                              site=self.site, truth=truth)
        self.retry.call(self.store.put, env)
        self.retry.call(self.store.finish, record)


def job_commands(redis_client: Any, queue: Any, frame_id: str, camera: str,
                 ttls: Dict[str, int]) -> List[Any]:
    """The Redis commands of RQ's own enqueue of a frame's job (id = the frame id), recorded
    on a pipeline that is never sent: replayed later inside the frame's put MULTI."""
    pipe = redis_client.pipeline(transaction=True)
    try:
        enqueue_frames(queue, [(frame_id, camera)], pipeline=pipe, job_id=frame_id, **ttls)
        return list(pipe.command_stack)
    finally:
        pipe.reset()


def replay(commands: List[Any]) -> Any:
    """A FrameStore.put queue_job_fn adding recorded commands to its pipeline (a retried put
    replays them again: nothing is consumed)."""
    def queue_job(pipe: Any) -> None:
        for args, options in commands:
            pipe.pipeline_execute_command(*args, **options)
    return queue_job
