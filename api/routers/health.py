"""GET /api/health: the process answers and the store is reachable (no token needed)."""
from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(request: Request) -> dict:
    from alpr.errors import AlprError

    try:
        events = request.app.state.store.count()
        return {"ok": True, "store": request.app.state.store.url, "events": events}
    except AlprError as exc:
        return {"ok": False, "store": request.app.state.store.url, "error": exc.reason}
