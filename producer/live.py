"""A live camera read on its own thread that keeps only the newest frame, stamped at capture.

A live source (RTSP, HTTP MJPEG, V4L2) delivers frames at its own rate whether we read them
or not; reading it once per output period lets the stream back up (the decoder and socket
buffer old frames), so the producer would send ever older frames stamped as fresh. Here a
grab thread reads every frame as it arrives and keeps the newest one only, with the wall
time it was captured; the producer takes the newest frame when its own (monotonic) clock
says so. A stream that ends, errors or stalls (no frame within `stall_s`) is reopened with
backoff through a Retry.
"""
import logging
import threading
import time
from typing import Any, Callable, Optional, Tuple

from alpr import defaults

log = logging.getLogger(__name__)


class Grabbed(object):
    """The newest frame of a live source: pixels, capture time (wall clock) and its index."""

    __slots__ = ("image", "ts", "index")

    def __init__(self, image: Any, ts: float, index: int) -> None:
        self.image, self.ts, self.index = image, ts, index


class LatestFrame(object):
    """Runs ``read()`` (returns an image, or None at end / error / stall) on a daemon thread;
    ``reopen()`` is called (through the caller's Retry) whenever it returns None."""

    def __init__(self, read: Callable[[], Any], reopen: Callable[[], None], name: str = "camera",
                 stall_s: float = defaults.CAMERA_STALL_S) -> None:
        self.read = read
        self.reopen = reopen
        self.name = name
        self.stall_s = float(stall_s)
        self._cond = threading.Condition()
        self._latest = None  # type: Optional[Grabbed]
        self._error = None  # type: Optional[BaseException]
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self.grabbed = 0
        self.reconnects = 0

    def start(self) -> "LatestFrame":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alpr-grab", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.reopen()
            opened, live = time.monotonic(), False
            while not self._stop.is_set():
                started = time.monotonic()
                image = self.read()
                if image is None:
                    if self._stop.is_set():
                        return
                    self.reconnects += 1
                    log.warning("%s: stream ended or stalled; reconnecting", self.name)
                    self.reopen()  # the caller's Retry backs off; it raises once it gives up
                    opened, live = time.monotonic(), False
                    continue
                now = time.time()  # the capture stamp: when the frame left the camera's stream
                # frames the open's probe buffered are old: publish once a read waited for
                # the network (caught up), or after a second whatever the stream does
                live = live or (time.monotonic() - started >= defaults.CAMERA_CATCHUP_READ_S
                                or time.monotonic() - opened > 1.0)
                if not live:
                    continue
                with self._cond:
                    self._latest = Grabbed(image, now, self.grabbed)
                    self.grabbed += 1
                    self._cond.notify_all()
        except BaseException as exc:  # given up (or stopping): the reader sees it
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def latest(self, after: int = -1, timeout: Optional[float] = None) -> Optional[Grabbed]:
        """The newest frame whose index is above ``after``, waiting up to ``timeout`` s for
        one (None when none came: a stalled camera sends nothing twice). Raises the grab
        thread's error once it gave up."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._latest is not None and self._latest.index > after:
                    return self._latest
                if self._error is not None:
                    raise self._error
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left if left is not None else 1.0)

    def stop(self) -> None:
        """Stop and join the grab thread (a read returns within a frame or the stall
        timeout): a thread left inside a native read aborts the interpreter's exit."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.stall_s + 1.0)


def capture_options(target: Any) -> Tuple[int, ...]:
    """cv2.VideoCapture open parameters: open and read timeouts, so a stalled stream
    returns from read() and is reopened (FFmpeg backend; older OpenCV ignores them)."""
    import cv2

    ms = int(defaults.CAMERA_STALL_S * 1000)
    params = []
    for name in ("CAP_PROP_OPEN_TIMEOUT_MSEC", "CAP_PROP_READ_TIMEOUT_MSEC"):
        prop = getattr(cv2, name, None)
        if prop is not None:
            params += [prop, ms]
    return tuple(params)
