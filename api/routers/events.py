"""GET /api/events (filters, paging), /api/events/{id}, and its crop.jpg / frame.jpg."""
import re
from typing import Any, Dict, Optional

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from alpr import defaults

router = APIRouter(tags=["events"])

FILTERS = {"plate", "camera", "since", "until", "label", "limit", "offset"}
MAX_ID_LEN = 450  # camera (200) + ':' + frame id (200), with room
_BAD_ID = re.compile(r"[\x00-\x1f\x7f]")


@router.get("/api/events")
def list_events(request: Request,
                plate: str = Query("", max_length=32, description="Fuzzy plate (look-alikes)."),
                camera: str = Query("", max_length=200),
                since: Optional[str] = Query(None, max_length=40,
                                             description="unix s, ISO 8601 or an age (2h)"),
                until: Optional[str] = Query(None, max_length=40),
                label: str = Query("", max_length=10, description="allow, deny or unknown"),
                limit: int = Query(defaults.SEARCH_LIMIT, ge=1, le=defaults.SEARCH_MAX_LIMIT),
                offset: int = Query(0, ge=0, le=1000000)) -> Dict[str, Any]:
    """Events matching the filters: by similarity then time with a plate, else newest first."""
    from store.search import Query as StoreQuery, search
    from store.timespec import parse_time

    unknown = sorted(set(request.query_params) - FILTERS)
    if unknown:
        raise HTTPException(400, "unknown filter(s): %s (known: %s)"
                            % (", ".join(unknown), ", ".join(sorted(FILTERS))))
    for name, value in (("plate", plate), ("camera", camera), ("label", label)):
        if _BAD_ID.search(value):
            raise HTTPException(400, "%s must be printable text" % name)
    query = StoreQuery(plate=plate, camera=camera, since=parse_time(since),
                       until=parse_time(until), label=label, limit=limit, offset=offset)
    events = [public(e) for e in search(request.app.state.store, query)]
    return {"events": events, "count": len(events), "limit": limit, "offset": offset}


@router.get("/api/events/{event_id:path}/crop.jpg", response_class=Response)
def event_crop(event_id: str, request: Request) -> Response:
    return _evidence(request, event_id, "crop")


@router.get("/api/events/{event_id:path}/frame.jpg", response_class=Response)
def event_frame(event_id: str, request: Request) -> Response:
    return _evidence(request, event_id, "frame")


@router.get("/api/events/{event_id:path}")
def get_event(event_id: str, request: Request) -> Dict[str, Any]:
    event = _event(request, event_id)
    event = public(event)
    event["stored_reads"] = request.app.state.store.reads(event_id)
    return event


def public(event: Dict[str, Any]) -> Dict[str, Any]:
    """An event as the API shows it: evidence as URLs of this API, never file paths."""
    out = dict(event)
    for kind in ("crop", "frame"):
        out[kind] = ("/api/events/%s/%s.jpg" % (event["id"], kind)) if event.get(kind) else None
    return out


def _event(request: Request, event_id: str) -> Dict[str, Any]:
    if not event_id or len(event_id) > MAX_ID_LEN or _BAD_ID.search(event_id):
        raise HTTPException(400, "malformed event id (1..%d printable characters)" % MAX_ID_LEN)
    event = request.app.state.store.get(event_id)
    if event is None:
        raise HTTPException(404, "no event %r" % event_id[:80])
    return event


def _evidence(request: Request, event_id: str, kind: str) -> Response:
    event = _event(request, event_id)
    data = request.app.state.evidence.read(event.get(kind))
    if data is None:
        raise HTTPException(404, "event %r has no %s (never sent, private camera, or purged)"
                            % (event_id[:80], kind))
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})
