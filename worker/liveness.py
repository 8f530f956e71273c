"""Liveness means progress: whether the node's engine calls return, seen from beside them.

A node whose engine call never returns (a stuck CUDA or ONNX Runtime call: no Python code
runs in that thread, SIGALRM cannot stop it) still has a perfectly healthy heartbeat thread.
EngineWatch records when each engine call started; the heartbeat asks it before beating and
withholds the node's alive key (and the systemd watchdog's progress file) once a call has run
longer than the job timeout, so the fleet reaps the node's frames and systemd restarts it.
Waiting for Redis is not a lack of progress: only engine calls are timed.
"""
import os
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple


class EngineWatch(object):
    """Start times of the engine calls in progress (one per thread: the frame and its read-ahead)."""

    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = float(limit_s)
        self.clock = clock
        self._calls = {}  # type: Dict[int, Tuple[str, float]]
        self._lock = threading.Lock()

    def call(self, frame_id: str) -> "_Call":
        """``with watch.call(frame_id): engine.process(...)``."""
        return _Call(self, frame_id)

    def _enter(self, frame_id: str) -> None:
        with self._lock:
            self._calls[threading.current_thread().ident or 0] = (frame_id, self.clock())

    def _leave(self) -> None:
        with self._lock:
            self._calls.pop(threading.current_thread().ident or 0, None)

    def stuck(self) -> Optional[str]:
        """None while every engine call is younger than the limit, else why the node is stuck."""
        now = self.clock()
        with self._lock:
            calls = list(self._calls.values())
        for frame_id, since in sorted(calls, key=lambda c: c[1]):
            if now - since > self.limit_s:
                return "engine call on frame %s running for %.1f s (limit %.1f s)" % (
                    frame_id, now - since, self.limit_s)
        return None


class _Call(object):
    __slots__ = ("watch", "frame_id")

    def __init__(self, watch: EngineWatch, frame_id: str) -> None:
        self.watch, self.frame_id = watch, frame_id

    def __enter__(self) -> None:
        self.watch._enter(self.frame_id)

    def __exit__(self, *exc: Any) -> None:
        self.watch._leave()


class ProgressFile(object):
    """A file whose mtime is the node's last sign of progress, for deploy/alpr-watchdog
    (systemd's WATCHDOG=1): local, so a Redis outage does not restart every worker."""

    def __init__(self, path: str) -> None:
        self.path = path

    def touch(self) -> None:
        if not self.path:
            return
        try:
            with open(self.path, "a"):
                pass
            os.utime(self.path, None)
        except OSError:  # a read-only or vanished dir: the watchdog then restarts us, visibly
            pass

    @staticmethod
    def age_s(path: str) -> Optional[float]:
        """Seconds since the file was touched; None when it does not exist."""
        try:
            return max(0.0, time.time() - os.stat(path).st_mtime)
        except OSError:
            return None
