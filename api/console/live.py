"""The Live page (/) and its server-sent events (/stream): events, reads and alerts as the
dispatcher and the alert rules write them.

The page is rendered with the newest events and alerts and the stream ids they end at; the
browser's EventSource then asks /stream for what comes after those ids, so nothing emitted
between the render and the connection is lost, and a reconnect (Last-Event-ID) is replayed.
"""
import asyncio
import json
import re
from typing import Any, AsyncIterator, Dict, List, Optional

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from alpr import defaults
from api.console.hub import entry_key
from api.console.layout import esc, event_card, page, when

router = APIRouter(include_in_schema=False)

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
FRAME_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
MAX_READS = 64  # plates in one frame, at most


@router.get("/")
async def live_page(request: Request) -> Response:
    hub = request.app.state.console.hub
    events: List[Dict[str, Any]] = []
    alerts: List[Dict[str, Any]] = []
    after = {"event": "0-0", "alert": "0-0"}
    problem = ""
    try:
        (events, after["event"]), (alerts, after["alert"]) = await run_in_threadpool(
            lambda: (hub.latest("event", defaults.CONSOLE_LIVE_EVENTS),
                     hub.latest("alert", defaults.CONSOLE_LIVE_EVENTS)))
    except Exception as exc:  # noqa: BLE001 - Redis unreachable: the page says so
        problem = "Redis unreachable (%s): live updates resume when it answers." % (
            type(exc).__name__)
    cards = "".join(event_card(m["data"]) for m in reversed(events))
    banners = "".join(alert_banner(m["data"]) for m in reversed(alerts[-3:]))
    body = ('<div id="alerts" class="alerts">%s</div>'
            '<p id="state" class="state%s">%s</p>'
            '<div class="live" id="live" data-events-after="%s" data-alerts-after="%s">'
            '<section><h1>Events</h1><div id="events" class="events">%s</div></section>'
            '<section class="reads-col"><h2>Reads</h2><ol id="reads" class="reads"></ol>'
            '</section></div>'
            % (banners, " bad" if problem else "", esc(problem or "connecting..."),
               esc(after["event"]), esc(after["alert"]),
               cards or '<p class="empty">No events yet.</p>'))
    return page(request, "Live", body, "live")


def alert_banner(alert: Dict[str, Any]) -> str:
    """One alert as the banner on the Live page (the JS builds the same markup)."""
    return ('<div class="alert" role="alert" data-rule="%s"><strong>%s</strong> %s '
            '<span class="camera">%s</span> <span class="time">%s</span> %s</div>'
            % (esc(alert.get("rule")), esc(alert.get("plate")), esc(alert.get("message")),
               esc(alert.get("camera")), esc(when(alert.get("at"))),
               '<a href="/event/%s">event</a>' % esc(_quote(alert.get("event_id")))
               if alert.get("event_id") else ""))


def _quote(value: Any) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def parse_positions(events: str, alerts: str, last_event_id: str) -> Dict[str, Optional[str]]:
    """Where a page's stream starts: its Last-Event-ID (``e=ID,a=ID``) or the ids the page
    was rendered with; None: from now on. A malformed id is a 400."""
    out = {"event": events or None, "alert": alerts or None}  # type: Dict[str, Optional[str]]
    if last_event_id:
        for part in last_event_id.split(","):
            name, _, value = part.partition("=")
            kind = {"e": "event", "a": "alert"}.get(name.strip())
            if kind:
                out[kind] = value.strip()
    for kind, value in out.items():
        if value is not None and not STREAM_ID.match(value):
            raise HTTPException(400, "%s position must be a stream id like 1700000000000-0"
                                % kind)
    return out


@router.get("/live/crop/{frame_id}/{index}.jpg")
async def read_crop(request: Request, frame_id: str, index: int) -> Response:
    """A read's plate crop while Redis still holds its frame's evidence (the frame's max
    age; the event's crop is kept in the evidence store)."""
    from alpr.protocol import ResultRecord, join_evidence

    if not FRAME_ID.match(frame_id) or not 0 <= index < MAX_READS:
        raise HTTPException(400, "malformed frame id or read index")
    console = request.app.state.console
    try:
        blob = await run_in_threadpool(
            lambda: console.redis().get(console.keys.evidence(frame_id)))
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - Redis down
        raise HTTPException(503, "Redis unreachable: %s" % type(exc).__name__)
    record = ResultRecord(frame_id=frame_id, camera="", status="read",
                          reads=[{} for _ in range(index + 1)])
    crop = record.reads[index].get("crop") if join_evidence(record, blob) else None
    if not crop:
        raise HTTPException(404, "no crop: the frame's evidence expired with its max age")
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": "private, "
                                                            "max-age=300"})


@router.get("/stream")
async def stream(request: Request,
                 events: str = Query("", max_length=42, description="events stream id"),
                 alerts: str = Query("", max_length=42, description="alerts stream id")
                 ) -> StreamingResponse:
    """Server-sent events: `event`, `alert`, `read` and `state` messages as JSON."""
    positions = parse_positions(events, alerts, request.headers.get("last-event-id", ""))
    hub = request.app.state.console.hub
    return StreamingResponse(_messages(request, hub, positions), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _messages(request: Request, hub: Any, positions: Dict[str, Optional[str]]
                    ) -> AsyncIterator[str]:
    queue = hub.subscribe()  # first: nothing written while we replay is missed
    sent = dict((k, entry_key(v)) for k, v in positions.items() if v)
    where = dict((k, v) for k, v in positions.items() if v)
    try:
        yield "retry: 2000\n\n"
        try:
            replay = await run_in_threadpool(
                lambda: [m for kind, after in where.items() for m in hub.since(kind, after)])
        except Exception:  # noqa: BLE001 - Redis down: the hub's state message says so
            replay = []
        for message in replay:
            text = _format(message, sent, where)
            if text:
                yield text
        while True:
            try:
                message = await asyncio.wait_for(queue.get(),
                                                 defaults.CONSOLE_SSE_KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield ": keepalive\n\n"
                continue
            if message is None:  # dropped for falling behind: the browser reconnects
                return
            text = _format(message, sent, where)
            if text:
                yield text
    finally:
        hub.unsubscribe(queue)


def _format(message: Dict[str, Any], sent: Dict[str, Any], where: Dict[str, str]) -> str:
    """One SSE message; '' for an entry already sent (replay and live overlap)."""
    kind = message["kind"]
    if kind in ("event", "alert"):
        key = entry_key(message["id"])
        if key <= sent.get(kind, (0, 0)):
            return ""
        sent[kind] = key
        where[kind] = message["id"]
    sse_id = ",".join("%s=%s" % (k[0], v) for k, v in sorted(where.items()))
    return "%sevent: %s\ndata: %s\n\n" % ("id: %s\n" % sse_id if sse_id else "", kind,
                                          json.dumps(message["data"], sort_keys=True))
