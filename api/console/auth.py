"""Console sessions, the login, and CSRF-checked forms.

Every browser gets a session cookie (HttpOnly, SameSite=Strict) holding a random id; the
session holds a CSRF token that every POST must echo (form field ``csrf`` or header
``X-CSRF-Token``). When a login is required (an API token or a console password is set:
always the case off loopback), a session is anonymous until the login form is posted with
either secret; the id is then replaced (no session fixation). Sessions live in memory: a
restart logs everyone out, which is the safe direction.
"""
import asyncio
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from alpr import defaults
from api.console.layout import csrf_field, esc, page

log = logging.getLogger("alpr.console")

COOKIE = "alpr_session"
router = APIRouter(include_in_schema=False)


class Session(object):
    __slots__ = ("sid", "csrf", "authed", "expires")

    def __init__(self, authed: bool, ttl_s: float) -> None:
        self.sid = secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.authed = authed
        self.expires = time.time() + ttl_s


class Sessions(object):
    """In-memory sessions, the oldest dropped past `max_sessions`."""

    def __init__(self, ttl_s: float = defaults.CONSOLE_SESSION_TTL_S,
                 max_sessions: int = defaults.CONSOLE_MAX_SESSIONS) -> None:
        self.ttl_s = float(ttl_s)
        self.max_sessions = int(max_sessions)
        self.by_id = OrderedDict()  # type: OrderedDict

    def get(self, sid: Optional[str]) -> Optional[Session]:
        session = self.by_id.get(sid) if sid else None
        if session is not None and session.expires < time.time():
            self.by_id.pop(sid, None)
            return None
        return session

    def new(self, authed: bool) -> Session:
        """A new session; past the cap the oldest anonymous one goes first, so a flood of
        cookieless requests cannot log the operators out."""
        session = Session(authed, self.ttl_s)
        self.by_id[session.sid] = session
        while len(self.by_id) > self.max_sessions:
            victim = next((sid for sid, s in self.by_id.items() if not s.authed), None)
            if victim is None:
                self.by_id.popitem(last=False)
            else:
                del self.by_id[victim]
        return session

    def drop(self, session: Session) -> None:
        self.by_id.pop(session.sid, None)


def set_cookie(response: Response, session: Session, ttl_s: float) -> None:
    response.set_cookie(COOKIE, session.sid, max_age=int(ttl_s), httponly=True,
                        samesite="strict", path="/")


def secret_ok(console: Any, given: str) -> bool:
    """True if `given` is the API token or the console password (compared in constant time)."""
    given_b = given.encode()
    return any(secret and hmac.compare_digest(given_b, secret.encode())
               for secret in (console.token, console.password))


async def read_form(request: Request) -> Dict[str, str]:
    """A urlencoded POST body as {name: last value}, after the CSRF check (403 if it fails)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPException(415, "forms are posted as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > defaults.CONSOLE_FORM_MAX_BYTES:
            raise HTTPException(413, "form larger than %d bytes"
                                % defaults.CONSOLE_FORM_MAX_BYTES)
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=10000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "malformed form: %s" % exc)
    form = dict((k, v[-1]) for k, v in parsed.items())
    check_csrf(request, form.get("csrf") or request.headers.get("x-csrf-token", ""))
    return form


def check_csrf(request: Request, given: str) -> None:
    session = getattr(request.state, "session", None)
    if session is None or not given or not hmac.compare_digest(given.encode(),
                                                               session.csrf.encode()):
        client = request.client.host if request.client else "?"
        log.warning("403 %s %s from %s: CSRF token %s", request.method, request.url.path,
                    client, "wrong" if given else "missing")
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")


def safe_next(target: str) -> str:
    """Only a path on this site (never //host or a scheme) as the after-login target."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/", failed: int = 0) -> Response:  # noqa: A002
    if not request.app.state.console.login_required:  # loopback, no secret: nothing to log in to
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "Log in", _login_form(request, safe_next(next), bool(failed)), "login",
                status_code=401 if failed else 200)


@router.post("/login")
async def login(request: Request) -> Response:
    console = request.app.state.console
    form = await read_form(request)
    target = safe_next(form.get("next", "/"))
    if not secret_ok(console, form.get("secret", "")):
        client = request.client.host if request.client else "?"
        log.warning("console login refused from %s", client)
        await asyncio.sleep(defaults.CONSOLE_LOGIN_FAIL_DELAY_S)
        return page(request, "Log in", _login_form(request, target, True), "login",
                    status_code=401)
    console.sessions.drop(request.state.session)
    session = console.sessions.new(authed=True)
    request.state.session = session
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, session, console.sessions.ttl_s)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    console = request.app.state.console
    await read_form(request)
    console.sessions.drop(request.state.session)
    response = RedirectResponse("/login" if console.login_required else "/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _login_form(request: Request, target: str, failed: bool) -> str:
    return ('<section class="login"><h1>Log in</h1>%s'
            '<form method="post" action="/login">%s'
            '<input type="hidden" name="next" value="%s">'
            '<label>API token or console password '
            '<input type="password" name="secret" autocomplete="current-password" autofocus>'
            '</label><button type="submit">Log in</button></form></section>'
            % ('<p class="error">Wrong token or password.</p>' if failed else "",
               csrf_field(request), esc(target)))


def login_redirect(request: Request) -> Response:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
