"""The Search page (/search: fuzzy plate, camera, time range, label) and an event's page
(/event/{id}: the best frame with the plate box drawn on a canvas, the crop, the reads)."""
import json
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from alpr import defaults
from alpr.errors import StoreError
from api.console.layout import esc, event_card, evidence_url, label_badge, page, table, when

router = APIRouter(include_in_schema=False)

LABELS = (("", "any label"), ("allow", "allow"), ("deny", "deny"), ("unknown", "unknown"))


@router.get("/search")
async def search_page(request: Request,
                      plate: str = Query("", max_length=32),
                      camera: str = Query("", max_length=200),
                      since: str = Query("", max_length=40),
                      until: str = Query("", max_length=40),
                      label: str = Query("", max_length=10),
                      limit: int = Query(defaults.SEARCH_LIMIT, ge=1,
                                         le=defaults.SEARCH_MAX_LIMIT),
                      offset: int = Query(0, ge=0, le=1000000)) -> Response:
    from store.search import Query as StoreQuery, search
    from store.timespec import parse_time

    store = request.app.state.store
    asked = any((plate, camera, since, until, label)) or "plate" in request.query_params
    results, error = [], ""  # type: List[Dict[str, Any]], str
    if asked:
        try:
            query = StoreQuery(plate=plate.strip(), camera=camera.strip(),
                               since=parse_time(since or None), until=parse_time(until or None),
                               label=label, limit=limit, offset=offset)
            results = await run_in_threadpool(search, store, query)
        except StoreError as exc:
            error = str(exc)
    cameras = await run_in_threadpool(store.cameras)
    body = _form(plate, camera, since, until, label, [c["camera"] for c in cameras])
    if error:
        body += '<p class="error">%s</p>' % esc(error)
    elif asked:
        body += '<p class="count">%d event%s%s</p>' % (
            len(results), "" if len(results) == 1 else "s",
            " (look-alikes included: O/0, I/1, B/8...)" if plate else "")
        body += '<div class="events">%s</div>' % "".join(event_card(e) for e in results)
        if len(results) == limit:
            params = dict(request.query_params)
            params["offset"] = str(offset + limit)
            from urllib.parse import urlencode

            body += '<p><a class="more" href="/search?%s">next page</a></p>' % esc(
                urlencode(params))
    return page(request, "Search", body, "search", status_code=400 if error else 200)


def _form(plate: str, camera: str, since: str, until: str, label: str,
          cameras: List[str]) -> str:
    cams = "".join('<option value="%s"%s>%s</option>' % (esc(c), " selected" if c == camera
                                                         else "", esc(c)) for c in cameras)
    labels = "".join('<option value="%s"%s>%s</option>' % (esc(v), " selected" if v == label
                                                           else "", esc(n)) for v, n in LABELS)
    return ('<h1>Search</h1><form class="search" method="get" action="/search">'
            '<label>Plate <input name="plate" value="%s" maxlength="32" '
            'placeholder="ABC1234" autocapitalize="characters"></label>'
            '<label>Camera <select name="camera"><option value="">any camera</option>%s'
            '</select></label>'
            '<label>Since <input name="since" value="%s" maxlength="40" '
            'placeholder="2h, 2026-12-01T08:00"></label>'
            '<label>Until <input name="until" value="%s" maxlength="40" placeholder="now"></label>'
            '<label>Label <select name="label">%s</select></label>'
            '<button type="submit">Search</button></form>'
            % (esc(plate), cams, esc(since), esc(until), labels))


@router.get("/event/{event_id:path}")
async def event_page(request: Request, event_id: str) -> Response:
    from api.routers.events import MAX_ID_LEN, _BAD_ID

    if not event_id or len(event_id) > MAX_ID_LEN or _BAD_ID.search(event_id):
        raise HTTPException(400, "malformed event id (1..%d printable characters)" % MAX_ID_LEN)
    store = request.app.state.store
    event = await run_in_threadpool(store.get, event_id)
    if event is None:
        raise HTTPException(404, "no event %r" % event_id[:80])
    reads = await run_in_threadpool(store.reads, event_id)
    alerts = await run_in_threadpool(_alerts_of, store, event_id)
    return page(request, "Event %s" % event.get("plate"), render_event(event, reads, alerts),
                "event")


def _alerts_of(store: Any, event_id: str) -> List[Dict[str, Any]]:
    """The alerts the dispatcher's rules fired for this event (stored with it)."""
    from store.alerts import AlertStore

    return AlertStore(store.db).for_event(event_id)


def render_event(event: Dict[str, Any], reads: List[Dict[str, Any]],
                 alerts: Optional[List[Dict[str, Any]]] = None) -> str:
    frame, crop = evidence_url(event, "frame"), evidence_url(event, "crop")
    box = frame_box(event)
    picture = ('<figure class="frame"><canvas id="frame" data-src="%s" data-box="%s" '
               'aria-label="best frame with the plate box"></canvas><figcaption>best frame'
               '%s</figcaption></figure>'
               % (esc(frame), esc(json.dumps(box)), "" if box else " (no plate box)")
               if frame else '<p class="empty">No frame kept (private camera, not sent, '
               'or purged by retention).</p>')
    facts = table(("", ""), [
        ("plate", esc(event.get("plate"))),
        ("label", label_badge(event.get("label"), event.get("note"))),
        ("camera", esc(event.get("camera"))), ("site", esc(event.get("site"))),
        ("first seen", esc(when(event.get("first_seen")))),
        ("last seen", esc(when(event.get("last_seen")))),
        ("confidence", "%.1f%%" % (100.0 * float(event.get("confidence") or 0.0))),
        ("frames / reads", "%s / %s" % (esc(event.get("frames")), esc(event.get("reads")))),
        ("region", esc(event.get("region"))), ("id", esc(event.get("id")))], "facts")
    rows = [(esc(r["text"]), esc(r["count"]), "%.2f" % float(r["confidence"] or 0.0),
             "%.2f" % float(r["mean_confidence"] or 0.0)) for r in reads]
    fired = [(esc(a.get("rule")), esc(when(a.get("at"))), esc(a.get("message")))
             for a in alerts or []]
    return ('<h1>%s</h1><div class="event-page">%s<div>%s%s<h2>Reads</h2>%s%s</div></div>'
            % (esc(event.get("plate")), picture,
               '<img class="crop big" src="%s" alt="plate crop">' % esc(crop) if crop else "",
               facts, table(("text", "reads", "best conf", "mean conf"), rows, "reads"),
               "<h2>Alerts</h2>" + table(("rule", "at", "message"), fired, "alerts")
               if fired else ""))


def frame_box(event: Dict[str, Any]) -> Optional[List[float]]:
    """The plate box in the stored frame's pixels (x1, y1, x2, y2), or None when unknown.
    Events carry `frame_box` (already scaled to the snapshot); older ones only `box`, in the
    camera frame's pixels, with `frame_scale` when the dispatcher knew it."""
    box = event.get("frame_box") or []
    scale = 1.0
    if not box:
        box = event.get("box") or []
        scale = float(event.get("frame_scale") or 0.0)
        if not scale:
            return None
    try:
        values = [float(v) * scale for v in box]
    except (TypeError, ValueError):
        return None
    return values if len(values) == 4 and values[2] > values[0] and values[3] > values[1] else None
