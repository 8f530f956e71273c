"""Frame sources: image folder, video file, RTSP/HTTP URL, V4L2 device, or one named by a layer above.

Each source yields SourceFrame items (BGR pixels or ready JPEG bytes, plus labelled truth when
known). cv2 is imported only inside the sources that need it. Live cameras reconnect with
backoff through a Retry; a bad frame is counted by the caller and skipped, never fatal.
"""
import logging
import os
from typing import Any, Callable, Dict, Iterator, List, Optional

from alpr.errors import ConfigError, TransientError
from alpr.retry import ExponentialBackoff, Retry

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
JPEG_EXTS = (".jpg", ".jpeg")
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mjpeg", ".mjpg")


class CameraLost(TransientError):
    """A live camera stopped delivering frames (reconnect with backoff)."""

    reason = "camera"


class SourceFrame(object):
    """One frame from a source: ``image`` (BGR ndarray) or ``jpeg`` bytes, optional truth;
    a live camera's frames carry their capture time ``ts`` and grab ``index``."""

    __slots__ = ("image", "jpeg", "truth", "name", "error", "ts", "index", "regions")

    def __init__(self, image: Any = None, jpeg: Optional[bytes] = None,
                 truth: Optional[List[str]] = None, name: str = "", error: str = "",
                 ts: Optional[float] = None, index: int = -1,
                 regions: Optional[List[str]] = None) -> None:
        self.image = image
        self.jpeg = jpeg
        self.truth = truth
        self.name = name
        self.error = error  # set for a frame the source could not read (counted, skipped)
        self.ts = ts  # capture time (wall clock); None = stamp at send (files, folders)
        self.index = index
        self.regions = regions  # plate regions of this frame's scene (generated scenes only)


class FolderSource(object):
    """Images of a folder (or one image file) in name order; OpenALPR-style ``<name>.txt`` beside an image gives truth.

    JPEG files are passed through untouched (no decode) unless the caller must resize.
    """

    def __init__(self, path: str, loop: bool = False, decode: bool = False) -> None:
        if os.path.isfile(path):
            self.paths = [path]
        else:
            self.paths = sorted(
                os.path.join(root, name) for root, _, names in os.walk(path) for name in names
                if name.lower().endswith(IMAGE_EXTS))
        if not self.paths:
            raise ConfigError("no images (%s) under %s" % (", ".join(IMAGE_EXTS), path))
        self.loop = loop
        self.decode = decode

    def __iter__(self) -> Iterator[SourceFrame]:
        while True:
            for path in self.paths:
                yield self._read(path)
            if not self.loop:
                return

    def _read(self, path: str) -> SourceFrame:
        truth = _sidecar_truth(path)
        name = os.path.basename(path)
        if not self.decode and path.lower().endswith(JPEG_EXTS):
            try:
                with open(path, "rb") as fh:
                    return SourceFrame(jpeg=fh.read(), truth=truth, name=name)
            except OSError as exc:
                return SourceFrame(truth=truth, name=name, error="unreadable: %s" % exc)
        import cv2

        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            return SourceFrame(truth=truth, name=name, error="not a decodable image")
        return SourceFrame(image=image, truth=truth, name=name)


def _sidecar_truth(image_path: str) -> Optional[List[str]]:
    """Plate text from an OpenALPR benchmark ``.txt`` (tab-separated, text last)."""
    txt = os.path.splitext(image_path)[0] + ".txt"
    try:
        with open(txt, encoding="utf-8", errors="replace") as fh:
            texts = [line.replace("\t", " ").split()[-1].upper() for line in fh if line.strip()]
    except (OSError, IndexError):
        return None
    return texts or None


class CaptureSource(object):
    """cv2.VideoCapture over a video file, an RTSP/HTTP URL or a V4L2 device index.

    Files end at EOF (or loop). Live sources (URL, device) are read on a grab thread that
    keeps only the newest frame, stamped at capture (producer.live), and reconnect with
    backoff when reads fail or stall, forever unless ``retries`` says otherwise; iterating
    one yields each newest frame once, and ``latest()`` is what the paced producer takes.
    """

    def __init__(self, target: Any, live: bool, loop: bool = False,
                 retry: Optional[Retry] = None) -> None:
        self.target = target
        self.live = live
        self.loop = loop
        self.retry = retry or Retry(ExponentialBackoff(0.5, 10.0), retries=0,
                                    supported_errors=(CameraLost,), name="camera %s" % _safe(target))
        self.cap = None  # type: Any
        self._grabber = None  # type: Any
        self._ended = 0  # reopens since the last frame read

    def _open(self) -> Any:
        import cv2

        if self.live:
            from producer.live import capture_options

            cap = _video_capture(cv2, self.target, capture_options(self.target))
        else:
            cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            if self.live:
                raise CameraLost("cannot open %s" % _safe(self.target))
            raise ConfigError("cannot open video %s" % _safe(self.target))
        return cap

    def _read(self) -> Any:
        if self.cap is None:
            self.cap = self._open()
        ok, image = self.cap.read()
        if not ok or image is None:
            self.cap.release()
            self.cap = None
            if self.live:
                raise CameraLost("no frame from %s" % _safe(self.target))
            return None
        return image

    # --- live: the grab thread ----------------------------------------------------------
    def _grab(self) -> Any:
        """One frame for the grab thread; None when the stream ended, failed or stalled."""
        try:
            image = self._read()
        except CameraLost:
            return None
        self._ended = 0
        return image

    def _reopen(self) -> None:
        """(Re)open the stream; a stream that keeps ending is reopened with backoff."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None
        if self._ended:
            self.retry.sleep(self.retry.backoff.compute(self._ended))
        self._ended += 1
        self.cap = self.retry.call(self._open)

    def grabber(self) -> Any:
        if self._grabber is None:
            from producer.live import LatestFrame

            self._grabber = LatestFrame(self._grab, self._reopen, name="camera %s" % _safe(self.target))
        return self._grabber

    def latest(self, after: int = -1, timeout: Optional[float] = None) -> Optional[SourceFrame]:
        """The newest captured frame newer than index ``after`` (None if none came in time)."""
        got = self.grabber().latest(after, timeout)
        return None if got is None else SourceFrame(image=got.image, ts=got.ts, index=got.index)

    def close(self) -> None:
        """Stop the grab thread, then release the stream."""
        if self._grabber is not None:
            self._grabber.stop()
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.live:
            last = -1
            try:
                while True:
                    frame = self.latest(last)
                    if frame is not None:
                        last = frame.index
                        yield frame
            finally:
                self.close()
        try:
            while True:
                image = self._read()
                if image is None:  # end of file
                    if not self.loop:
                        return
                    continue
                yield SourceFrame(image=image)
        finally:
            if self.cap is not None:
                self.cap.release()
                self.cap = None


def _video_capture(cv2: Any, target: Any, params: Any) -> Any:
    """VideoCapture with open parameters where this OpenCV takes them (4.5.2+)."""
    if params:
        try:
            backend = cv2.CAP_V4L2 if isinstance(target, int) else cv2.CAP_FFMPEG
            return cv2.VideoCapture(target, backend, list(params))
        except (TypeError, cv2.error):  # an older OpenCV: no parameters
            pass
    return cv2.VideoCapture(target)


def _safe(target: Any) -> str:
    """A source name for logs with URL credentials masked."""
    from alpr.settings import redact_url

    return redact_url(str(target))


def open_source(spec: str, loop: bool = False, decode: bool = False, seed: int = 0,
                repeat: int = 1, named: Optional[Dict[str, Callable[..., Any]]] = None) -> Any:
    """SOURCE argument -> a source: a name in ``named`` (factories taking ``seed``, ``repeat``:
    e.g. ``scenes``, which the console script lends from evaluation/, alpr.cli.NAMED_SOURCES),
    a folder, a video file, a URL or a device index."""
    named = named or {}
    if spec in named:
        return named[spec](seed=seed, repeat=repeat)
    if spec.isdigit():
        return CaptureSource(int(spec), live=True)
    if spec.startswith("/dev/video"):
        return CaptureSource(spec, live=True)
    if "://" in spec:
        return CaptureSource(spec, live=not spec.startswith("file://"), loop=loop)
    if os.path.isdir(spec):
        return FolderSource(spec, loop=loop, decode=decode)
    if os.path.isfile(spec):
        if spec.lower().endswith(IMAGE_EXTS):
            return FolderSource(spec, loop=loop, decode=decode)
        return CaptureSource(spec, live=False, loop=loop)
    raise ConfigError("source %s is not %sa folder, a file, a URL or a device index"
                      % (_safe(spec), "".join("%s, " % name for name in sorted(named))))
