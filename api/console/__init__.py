"""The operator's web console, served by `alpr serve` next to the API (one module per page).

Pages: Live (/, with server-sent events from /stream), Search (/search, /event/{id}),
Fleet (/fleet) and Known plates (/known). Server-rendered HTML, one small vanilla JS file
and one CSS file under /static/; no front-end build step. See docs/console.md.
"""
import logging
import os
from typing import Any, Callable, Dict, Optional

from fastapi import FastAPI, HTTPException, Request
from starlette.responses import FileResponse, Response

from api.console.auth import COOKIE, Sessions, login_redirect, set_cookie

log = logging.getLogger("alpr.console")

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = {"console.js": "text/javascript", "console.css": "text/css"}
PAGES = ("/", "/search", "/fleet", "/known", "/known.csv", "/stream", "/login", "/logout")
PREFIXES = ("/event/", "/static/", "/known/", "/fleet/", "/live/")
OPEN = ("/login", "/static/")  # answered before a login
SAFE_METHODS = ("GET", "HEAD")


class Console(object):
    """What the console's routes share: secrets, sessions, Redis and the stream hub."""

    def __init__(self, token: str = "", password: str = "",
                 redis_factory: Optional[Callable[[], Any]] = None, keys: Any = None) -> None:
        from alpr.keys import Keys
        from api.console.hub import StreamHub

        self.token = token
        self.password = password
        self.login_required = bool(token or password)
        self.sessions = Sessions()
        self.keys = keys or Keys()
        self.redis_factory = redis_factory
        self.redis_client = None  # type: Any
        self.hub = StreamHub(self.redis, self.keys)

    def redis(self) -> Any:
        if self.redis_factory is None:
            raise HTTPException(503, "no Redis configured (alpr serve --redis-url)")
        if self.redis_client is None:
            self.redis_client = self.redis_factory()
        return self.redis_client

    @staticmethod
    def owns(path: str) -> bool:
        return path in PAGES or path.startswith(PREFIXES)

    def session_reads(self, request: Request) -> bool:
        """A logged-in browser may GET the API (evidence images); writes need the token."""
        session = getattr(request.state, "session", None)
        return bool(session is not None and session.authed and request.method in SAFE_METHODS)


def install(app: FastAPI, console: Console) -> None:
    """Add the console's pages, static files and session/login middleware to the API app."""
    from api.console import auth, fleet, known, live, search

    app.state.console = console
    console.hub.enrich = lambda event: with_evidence(app.state.store, event)
    for module in (auth, live, search, fleet, known):
        app.include_router(module.router)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no static file %r" % name[:40])
        return FileResponse(os.path.join(STATIC_DIR, name), media_type=STATIC_FILES[name],
                            headers={"Cache-Control": "no-cache"})

    @app.middleware("http")
    async def sessions(request: Request, call_next: Any) -> Any:
        path = request.url.path
        session = console.sessions.get(request.cookies.get(COOKIE))
        fresh = None
        if session is None and console.owns(path):
            session = fresh = console.sessions.new(authed=not console.login_required)
        request.state.session = session
        if console.owns(path) and console.login_required and not path.startswith(OPEN) \
                and not session.authed:
            if path == "/stream" or request.method not in SAFE_METHODS:
                response = Response("login required", status_code=401,
                                    media_type="text/plain")  # type: Any
            else:
                response = login_redirect(request)
        else:
            response = await call_next(request)
        if fresh is not None:
            set_cookie(response, fresh, console.sessions.ttl_s)
        return response


def with_evidence(store: Any, event: Dict[str, Any]) -> Dict[str, Any]:
    """A streamed event with its stored evidence (crop/frame present: the dispatcher stores
    an event before it XADDs it) and the URLs the page shows."""
    from api.console.layout import event_href, evidence_url

    try:
        stored = store.get(str(event.get("id", "")))
    except Exception:  # noqa: BLE001 - store down: the event shows without its crop
        stored = None
    if stored is not None:
        event["crop"], event["frame"] = stored.get("crop"), stored.get("frame")
        event["label"], event["note"] = stored.get("label", ""), stored.get("note", "")
    event["crop"] = evidence_url(event, "crop")  # URLs of the API, never file paths
    event["frame"] = evidence_url(event, "frame")
    event["href"] = event_href(str(event.get("id", "")))
    return event
