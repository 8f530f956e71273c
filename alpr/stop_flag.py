"""Graceful shutdown for long-running processes (worker, producer).

SIGTERM/SIGINT set the flag: the process finishes its current frame, then exits. A second
signal exits at once (the source or engine is stuck).
"""
import signal
from typing import Any


class StopFlag(object):
    """Callable flag set by the first SIGTERM/SIGINT; usable as a `should_stop` predicate."""

    def __init__(self) -> None:
        self.stopped = False

    def __call__(self) -> bool:
        return self.stopped

    def handle(self, signum: Any, frame: Any) -> None:
        if self.stopped:  # second signal: the source/engine is stuck, leave now
            raise SystemExit(1)
        self.stopped = True

    def install(self) -> "StopFlag":
        """(Re)install the handlers, e.g. after a library replaced them."""
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)
        return self
