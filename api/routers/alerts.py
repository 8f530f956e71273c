"""GET /api/alerts: alerts the dispatcher's rules fired, newest first (filters, paging)."""
from typing import Any, Dict, Optional

from fastapi import APIRouter, HTTPException, Query, Request

from alpr import defaults

router = APIRouter(tags=["alerts"])

FILTERS = {"camera", "rule", "since", "until", "limit", "offset"}


@router.get("/api/alerts")
def list_alerts(request: Request,
                camera: str = Query("", max_length=200),
                rule: str = Query("", max_length=200),
                since: Optional[str] = Query(None, max_length=40,
                                             description="unix s, ISO 8601 or an age (2h)"),
                until: Optional[str] = Query(None, max_length=40),
                limit: int = Query(defaults.SEARCH_LIMIT, ge=1, le=defaults.SEARCH_MAX_LIMIT),
                offset: int = Query(0, ge=0, le=1000000)) -> Dict[str, Any]:
    """Stored alerts matching the filters, each with its event id (GET /api/events/{id})."""
    from store.alerts import AlertQuery, AlertStore
    from store.timespec import parse_time

    unknown = sorted(set(request.query_params) - FILTERS)
    if unknown:
        raise HTTPException(400, "unknown filter(s): %s (known: %s)"
                            % (", ".join(unknown), ", ".join(sorted(FILTERS))))
    for name, value in (("camera", camera), ("rule", rule)):
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise HTTPException(400, "%s must be printable text" % name)
    query = AlertQuery(camera=camera, rule=rule, since=parse_time(since), until=parse_time(until),
                       limit=limit, offset=offset)
    alerts = AlertStore(request.app.state.store.db).search(query)
    return {"alerts": alerts, "count": len(alerts), "limit": limit, "offset": offset}
