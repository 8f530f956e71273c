"""Build the FastAPI app: state (store, evidence root, fleet reader), the token check, routers."""
import hmac
import logging
from typing import Any, Callable, Dict, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from alpr.errors import StoreError, StoreUnavailableError

log = logging.getLogger("alpr.api")

TOKEN_HEADER = "X-API-Token"
OPEN_PATHS = ("/api/health",)  # answered without a token (load balancers, watchdogs)


def create_app(store: Any, evidence: Any, fleet: Optional[Callable[[], Dict[str, Any]]] = None,
               token: str = "", console: Any = None) -> FastAPI:
    """The API over `store` (EventStore), `evidence` (EvidenceDir: pictures served only from
    inside it) and `fleet()` (what `alpr status --json` prints). With `token`, every path
    but /api/health needs it in the X-API-Token header (or Authorization: Bearer), or a
    logged-in console session for a GET. With `console` (api.console.Console), the web
    console is served at / with its own login (api.console.auth)."""
    from api.routers import events, fleet as fleet_router, health, known_plates

    app = FastAPI(title="ALPR fleet API", version="1",
                  description="Plate events, evidence, known plates and fleet health.")
    app.state.store = store
    app.state.evidence = evidence
    app.state.fleet = fleet
    for router in (health.router, events.router, known_plates.router, fleet_router.router):
        app.include_router(router)
    from api.routers import alerts; app.include_router(alerts.router)  # noqa: E702

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        path = request.url.path
        guarded = token or (console is not None and console.login_required)
        if console is not None and (console.owns(path) or console.session_reads(request)):
            guarded = False  # the console's middleware checks its pages and sessions
        if guarded and path not in OPEN_PATHS and not _token_ok(request, token):
            client = request.client.host if request.client else "?"
            log.warning("401 %s %s from %s: %s token", request.method, request.url.path, client,
                        "wrong" if _given(request) else "no")
            return JSONResponse({"detail": "a valid %s header is required" % TOKEN_HEADER},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(StoreUnavailableError)
    async def store_down(_request: Request, exc: StoreUnavailableError) -> JSONResponse:
        log.warning("store unavailable: %s", exc)
        return JSONResponse({"detail": "event store unavailable, try again"}, status_code=503)

    @app.exception_handler(StoreError)
    async def bad_query(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = ["%s: %s" % (".".join(str(p) for p in e.get("loc", ())), e.get("msg"))
                    for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"},
                            status_code=422)

    if console is not None:
        from api.console import install

        install(app, console)  # added last: its session middleware runs first
    return app


def _given(request: Request) -> str:
    given = request.headers.get(TOKEN_HEADER, "")
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return given


def _token_ok(request: Request, token: str) -> bool:
    return bool(token) and hmac.compare_digest(_given(request).encode(), token.encode())
