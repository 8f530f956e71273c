"""The Fleet page (/fleet): nodes, queues and per-camera accounting with the invariant, as
`alpr status --json` reports them; drain/undrain buttons call the same functions as
`alpr fleet drain|undrain` (dispatcher.fleet_watch)."""
import re
from typing import Any, Dict

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.console.auth import read_form
from api.console.layout import csrf_field, esc, page, table, when

router = APIRouter(include_in_schema=False)

NODE_NAME = re.compile(r"^[A-Za-z0-9_.:@\-]{1,200}$")


@router.get("/fleet")
async def fleet_page(request: Request) -> Response:
    reader = request.app.state.fleet
    if reader is None:
        return page(request, "Fleet", '<h1>Fleet</h1><p class="error">No Redis configured '
                    '(alpr serve --redis-url).</p>', "fleet", status_code=503)
    try:
        status = await run_in_threadpool(reader)
    except Exception as exc:  # noqa: BLE001 - Redis down: the page says so
        return page(request, "Fleet", '<h1>Fleet</h1><p class="error">Redis unreachable: %s'
                    '</p>' % esc(type(exc).__name__), "fleet", status_code=503)
    return page(request, "Fleet", render_fleet(request, status), "fleet")


def render_fleet(request: Request, status: Dict[str, Any]) -> str:
    nodes = []
    for node in status.get("nodes") or []:
        stats = node.get("stats") or {}
        action = "undrain" if node.get("drained") else "drain"
        button = ('<form method="post" action="/fleet/%s">%s<input type="hidden" name="node" '
                  'value="%s"><button type="submit" class="%s">%s</button></form>'
                  % (action, csrf_field(request), esc(node.get("name")), action,
                     action.capitalize()))
        nodes.append((esc(node.get("name")),
                      '<span class="%s">%s</span>' % ("ok" if node.get("alive") else "bad",
                                                      "alive" if node.get("alive") else "DEAD"),
                      "drained" if node.get("drained") else "",
                      esc(stats.get("fps", "")), esc(stats.get("p50_ms", stats.get("latency_ms",
                                                                                  ""))),
                      esc(stats.get("engine", "")), esc(node.get("running", 0)),
                      esc(when(stats.get("beat"))), button))
    queues = [(esc(name), esc(depth)) for name, depth in
              sorted((status.get("queues") or {}).items())]
    cams = []
    for camera, row in sorted((status.get("cameras") or {}).items()):
        cams.append(_accounting_row(esc(camera), row))
    totals = status.get("totals")
    if totals:
        cams.append(_accounting_row("<strong>total</strong>", totals))
    results = status.get("results") or {}
    ok = status.get("invariant_ok", True)
    return ('<h1>Fleet</h1><p class="invariant %s">produced = read + stale + dropped + failed + '
            'in flight: %s</p><h2>Nodes</h2>%s<h2>Queues</h2>%s<h2>Cameras</h2>%s'
            '<p>results stream: %s entries, %s pending; events stream: %s</p>%s'
            % ("ok" if ok else "bad", "holds" if ok else "BROKEN",
               table(("node", "alive", "drained", "fps", "latency ms", "engine", "running",
                      "last seen", ""), nodes, "nodes") if nodes
               else '<p class="empty">No nodes registered.</p>',
               table(("queue", "depth"), queues, "queues"),
               table(("camera", "produced", "read", "stale", "dropped", "failed", "in flight",
                      "invariant"), cams, "cameras") if cams
               else '<p class="empty">No camera has produced a frame.</p>',
               esc(results.get("length", 0)), esc(results.get("pending", 0)),
               esc(status.get("events", 0)), _refused(status.get("security") or {})))


def _refused(security: Dict[str, Any]) -> str:
    """The workers' refused-job counters (pickle, functions off the allowlist), if any."""
    if not security:
        return ""
    return '<p class="bad">refused jobs: %s</p>' % esc(", ".join(
        "%s=%s" % kv for kv in sorted(security.items())))


def _accounting_row(name: str, row: Dict[str, Any]) -> tuple:
    failed = esc(row.get("failed", 0))
    reasons = row.get("failed_by_reason") or {}
    if reasons:
        failed = '<span title="%s">%s</span>' % (
            esc(", ".join("%s: %s" % kv for kv in sorted(reasons.items()))), failed)
    return (name, esc(row.get("produced", 0)), esc(row.get("read", 0)), esc(row.get("stale", 0)),
            esc(row.get("dropped", 0)), failed, esc(row.get("in_flight", 0)),
            '<span class="ok">ok</span>' if row.get("invariant_ok") else
            '<span class="bad">BROKEN</span>')


@router.post("/fleet/{action}")
async def fleet_action(request: Request, action: str) -> Response:
    from dispatcher.fleet_watch import drain, undrain

    if action not in ("drain", "undrain"):
        raise HTTPException(404, "no fleet action %r (drain or undrain)" % action[:40])
    form = await read_form(request)
    node = form.get("node", "")
    if not NODE_NAME.match(node):
        raise HTTPException(400, "node must be 1..200 of A-Z a-z 0-9 _ . : @ -")
    console = request.app.state.console
    fn = drain if action == "drain" else undrain
    try:
        await run_in_threadpool(fn, console.redis(), console.keys, node)
    except Exception as exc:  # noqa: BLE001 - Redis down
        raise HTTPException(503, "Redis unreachable: %s" % type(exc).__name__)
    return RedirectResponse("/fleet", status_code=303)
