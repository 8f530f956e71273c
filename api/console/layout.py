"""The console's page shell and small HTML helpers (plain templates: no jinja2 in the venv).

Every value put into a page goes through `esc` (html.escape with quotes), so a plate, a
camera name or a note never becomes markup.
"""
import html
import time
from typing import Any, Dict, Iterable, Optional
from urllib.parse import quote

from starlette.responses import HTMLResponse

NAV = (("/", "Live"), ("/search", "Search"), ("/fleet", "Fleet"), ("/known", "Known plates"))

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ALPR console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body data-page="{page}">
<header>
<a class="brand" href="/">ALPR</a>
<nav>{nav}</nav>
{logout}
</header>
<main>
{body}
</main>
</body>
</html>
"""


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def page(request: Any, title: str, body: str, page_id: str, status_code: int = 200) -> HTMLResponse:
    """A whole console page around `body` (already HTML), with the nav and the logout form."""
    session = getattr(request.state, "session", None)
    current = request.url.path
    nav = "".join('<a href="%s"%s>%s</a>' % (href, ' class="on"' if href == current else "",
                                               esc(name)) for href, name in NAV)
    logout = ""
    if session is not None and session.authed and request.app.state.console.login_required:
        logout = ('<form class="logout" method="post" action="/logout">%s'
                  '<button type="submit">Log out</button></form>' % csrf_field(request))
    text = PAGE.format(title=esc(title), page=esc(page_id), nav=nav, logout=logout, body=body)
    return HTMLResponse(text, status_code=status_code,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "same-origin",
                                 "Content-Security-Policy": CSP})


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'")


def csrf_field(request: Any) -> str:
    """The hidden input every console form carries (checked on POST by console.auth)."""
    session = getattr(request.state, "session", None)
    return '<input type="hidden" name="csrf" value="%s">' % esc(session.csrf if session else "")


def when(ts: Any) -> str:
    """A unix time as local 'YYYY-MM-DD HH:MM:SS' (empty for none)."""
    try:
        value = float(ts)
    except (TypeError, ValueError):
        return ""
    if value <= 0:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def event_href(event_id: str) -> str:
    return "/event/" + quote(str(event_id), safe="")


def evidence_url(event: Dict[str, Any], kind: str) -> Optional[str]:
    """The API URL of an event's crop/frame, or None when it has none (never a file path)."""
    if not event.get(kind):
        return None
    return "/api/events/%s/%s.jpg" % (quote(str(event["id"]), safe=""), kind)


def label_badge(label: Any, note: Any = "") -> str:
    label = str(label or "")
    if not label:
        return '<span class="label unknown">unknown</span>'
    return '<span class="label %s" title="%s">%s</span>' % (
        esc(label), esc(note), esc(label + (": " + str(note) if note else "")))


def event_card(event: Dict[str, Any]) -> str:
    """One event as the Live and Search pages list it (the JS builds the same markup)."""
    crop = evidence_url(event, "crop")
    img = ('<img class="crop" src="%s" alt="plate %s">' % (esc(crop), esc(event.get("plate")))
           if crop else '<span class="crop none">no crop</span>')
    score = ('<span class="score">match %.0f%%</span>' % min(100.0, _float(event["score"]))
             if "score" in event else "")
    return ('<article class="event" data-id="%s" data-plate="%s">%s<div class="facts">'
            '<a class="plate" href="%s">%s</a> %s'
            '<span class="camera">%s</span><span class="time">%s</span>'
            '<span class="conf">%.0f%%</span>%s</div></article>'
            % (esc(event.get("id")), esc(event.get("plate")), img,
               esc(event_href(str(event.get("id", "")))), esc(event.get("plate")),
               label_badge(event.get("label"), event.get("note")), esc(event.get("camera")),
               esc(when(event.get("first_seen"))), 100.0 * _float(event.get("confidence")),
               score))


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table whose cells are already HTML (escape them first)."""
    headers = list(headers)
    head = ("<thead><tr>%s</tr></thead>" % "".join("<th>%s</th>" % esc(h) for h in headers)
            if any(headers) else "")
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % c for c in row) for row in rows)
    return '<div class="scroll"><table class="%s">%s<tbody>%s</tbody></table></div>' % (
        esc(cls), head, body)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
