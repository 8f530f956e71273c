"""POST plate events as JSON to webhook URLs, off the dispatcher's main loop.

A background thread drains a bounded queue, so a slow or dead webhook never stalls the
results stream: when the queue is full the event is counted as dropped (it is still in
the events stream). Each POST is retried with the Retry value object, then counted as
failed.
"""
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

from alpr.errors import PermanentError, TransientError
from alpr.settings import redact_url

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # events waiting for webhooks; beyond this they are dropped and counted


class WebhookError(TransientError):
    """A webhook answered with an error status or could not be reached."""

    reason = "webhook"


class WebhookRejected(PermanentError):
    """A webhook refused the event (HTTP 4xx other than 408/429): retrying will not help."""

    reason = "webhook_rejected"


class WebhookSender(object):
    """Sends every submitted event to every URL; `stats` counts sent / failed / dropped."""

    def __init__(self, urls: List[str], timeout_s: float, retry: Any,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.urls = list(urls)
        self.timeout_s = float(timeout_s)
        self.retry = retry
        self.queue = queue.Queue(maxsize=max(1, queue_size))  # type: queue.Queue
        self.stats = {"sent": 0, "failed": 0, "dropped": 0}
        self._lock = threading.Lock()
        self._thread = None  # type: Optional[threading.Thread]

    def start(self) -> "WebhookSender":
        if self.urls and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()
        return self

    def submit(self, event: Dict[str, Any]) -> bool:
        """Queue an event for every URL without blocking; False if it had to be dropped."""
        if not self.urls:
            return True
        try:
            self.queue.put_nowait(event)
            return True
        except queue.Full:
            self._count("dropped", len(self.urls))
            log.warning("webhook queue full: event %s dropped", event.get("id"))
            return False

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (up to `timeout_s`), then stop the thread."""
        if self._thread is None:
            return
        try:
            self.queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        self._thread = None

    def post(self, url: str, event: Dict[str, Any]) -> int:
        """One POST attempt; returns the HTTP status or raises WebhookError."""
        body = json.dumps(event, sort_keys=True).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "alpr-dispatcher"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise WebhookRejected("%s answered HTTP %d" % (redact_url(url), exc.code)) from exc
            raise WebhookError("%s answered HTTP %d" % (redact_url(url), exc.code)) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise WebhookError("%s: %s" % (redact_url(url), exc)) from exc

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            if event is None:
                return
            for url in self.urls:
                try:
                    self.retry.call(self.post, url, event)
                    self._count("sent")
                except Exception as exc:  # noqa: BLE001 - a webhook never kills the dispatcher
                    self._count("failed")
                    log.warning("webhook failed for event %s: %s", event.get("id"), exc)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.stats[name] += n
