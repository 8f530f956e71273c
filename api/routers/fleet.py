"""GET /api/fleet: nodes, fps, queue depths and per-camera accounting (as `alpr status --json`)."""
from typing import Any, Dict

from fastapi import APIRouter, HTTPException, Request

router = APIRouter(tags=["fleet"])


@router.get("/api/fleet")
def fleet(request: Request) -> Dict[str, Any]:
    reader = request.app.state.fleet
    if reader is None:
        raise HTTPException(503, "no Redis configured for fleet status (--redis-url)")
    from alpr.errors import ConnectionLostError

    try:
        return reader()
    except Exception as exc:  # noqa: BLE001 - Redis down or unreachable: say so, do not crash
        if isinstance(exc, (ConnectionLostError, ConnectionError, TimeoutError, OSError)) \
                or type(exc).__module__.startswith("redis"):
            raise HTTPException(503, "Redis unreachable: %s" % type(exc).__name__)
        raise
