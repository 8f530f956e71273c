"""The Known plates page (/known): list, add, edit, remove, import and export CSV.

The list is the event store's (the same rows as /api/known-plates); the dispatcher re-reads
it every KNOWN_PLATES_REFRESH_S, so the next event of an added plate carries its label.
CSV is ``plate,label,note`` (the format `alpr dispatch --known-plates` reads).
"""
import csv
import io
from typing import Any, Dict, List, Tuple

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from alpr import defaults
from alpr.errors import StoreError
from api.console.auth import read_form
from api.console.layout import csrf_field, esc, page, table, when

router = APIRouter(include_in_schema=False)

MAX_PLATE, MAX_NOTE = 32, 500
MAX_IMPORT_ROWS = 10000


def _label_select(current: str) -> str:
    return '<select name="label">%s</select>' % "".join(
        '<option value="%s"%s>%s</option>' % (v, " selected" if v == current else "", v)
        for v in ("allow", "deny"))


@router.get("/known")
async def known_page(request: Request, done: str = "") -> Response:
    plates = await run_in_threadpool(request.app.state.store.known_plates)
    return page(request, "Known plates", render_known(request, plates, done[:200]), "known")


def render_known(request: Request, plates: List[Dict[str, Any]], message: str = "",
                 error: str = "") -> str:
    csrf = csrf_field(request)
    rows = []
    for p in plates:
        form_id = "edit-%s" % esc(p["plate"])
        rows.append((
            '<span class="plate">%s</span>' % esc(p["plate"]),
            '<form id="%s" method="post" action="/known">%s<input type="hidden" name="plate" '
            'value="%s">%s</form>' % (form_id, csrf, esc(p["plate"]), _label_select(p["label"])
                                      .replace("<select ", '<select form="%s" ' % form_id, 1)),
            '<input form="%s" name="note" value="%s" maxlength="%d">' % (form_id, esc(p["note"]),
                                                                          MAX_NOTE),
            esc(when(p.get("updated"))),
            '<button form="%s" type="submit" class="save">Save</button>'
            '<form method="post" action="/known/delete">%s<input type="hidden" name="plate" '
            'value="%s"><button type="submit" class="delete">Remove</button></form>'
            % (form_id, csrf, esc(p["plate"]))))
    return ('<h1>Known plates</h1><p class="hint">The dispatcher picks up changes within '
            '%.0f s; events already stored keep their label.</p>%s%s'
            '<form class="add" method="post" action="/known">%s'
            '<label>Plate <input name="plate" required maxlength="%d" '
            'autocapitalize="characters"></label><label>Label %s</label>'
            '<label>Note <input name="note" maxlength="%d"></label>'
            '<button type="submit">Add</button></form>%s'
            '<h2>Import / export</h2><p><a href="/known.csv" download>Export CSV</a></p>'
            '<form class="import" method="post" action="/known/import">%s'
            '<label>CSV file (plate,label,note) <input type="file" id="csv-file" accept=".csv,'
            'text/csv"></label><textarea name="csv" id="csv-text" rows="4" '
            'placeholder="ABC1234,allow,staff"></textarea>'
            '<button type="submit">Import</button></form>'
            % (defaults.KNOWN_PLATES_REFRESH_S,
               '<p class="done">%s</p>' % esc(message) if message else "",
               '<p class="error">%s</p>' % esc(error) if error else "",
               csrf, MAX_PLATE, _label_select("allow"), MAX_NOTE,
               table(("plate", "label", "note", "updated", ""), rows, "known") if rows
               else '<p class="empty">No known plates yet.</p>', csrf))


async def _refuse(request: Request, error: str) -> Response:
    plates = await run_in_threadpool(request.app.state.store.known_plates)
    return page(request, "Known plates", render_known(request, plates, error=error), "known",
                status_code=400)


@router.post("/known")
async def put_plate(request: Request) -> Response:
    """Add a plate, or change an existing one's label and note."""
    form = await read_form(request)
    plate, label, note = (form.get("plate", "").strip(), form.get("label", ""),
                          form.get("note", ""))
    if not plate or len(plate) > MAX_PLATE or len(note) > MAX_NOTE:
        return await _refuse(request, "plate 1..%d characters, note at most %d"
                             % (MAX_PLATE, MAX_NOTE))
    try:
        saved = await run_in_threadpool(request.app.state.store.put_known_plate, plate, label,
                                        note)
    except StoreError as exc:
        return await _refuse(request, str(exc))
    return _back("saved %s (%s)" % (saved.get("plate", plate), saved.get("label", label)))


@router.post("/known/delete")
async def delete_plate(request: Request) -> Response:
    form = await read_form(request)
    plate = form.get("plate", "")[:MAX_PLATE]
    removed = await run_in_threadpool(request.app.state.store.delete_known_plate, plate)
    if not removed:
        raise HTTPException(404, "plate %s is not a known plate" % plate)
    return _back("removed %s" % plate)


@router.post("/known/import")
async def import_csv(request: Request) -> Response:
    form = await read_form(request)
    rows, problems = parse_csv(form.get("csv", ""))
    if problems:
        return await _refuse(request, "nothing imported: " + "; ".join(problems[:5]))
    store = request.app.state.store

    def put_all() -> int:
        for plate, label, note in rows:
            store.put_known_plate(plate, label, note)
        return len(rows)

    try:
        count = await run_in_threadpool(put_all)
    except StoreError as exc:
        return await _refuse(request, str(exc))
    return _back("imported %d plate%s" % (count, "" if count == 1 else "s"))


@router.get("/known.csv")
async def export_csv(request: Request) -> Response:
    plates = await run_in_threadpool(request.app.state.store.known_plates)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("plate", "label", "note"))
    for p in plates:
        writer.writerow((p["plate"], p["label"], _cell(p["note"])))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="known-plates.csv"',
                             "Cache-Control": "no-store"})


def _cell(text: str) -> str:
    """A note as a CSV cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def parse_csv(text: str) -> Tuple[List[Tuple[str, str, str]], List[str]]:
    """(rows, problems) of a ``plate,label,note`` CSV; a header row naming plate is skipped."""
    rows, problems = [], []  # type: List[Tuple[str, str, str]], List[str]
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip():
            continue
        if number == 1 and row[0].strip().lower() == "plate":
            continue
        plate = row[0].strip()
        label = (row[1] if len(row) > 1 else "").strip().lower()
        note = (row[2] if len(row) > 2 else "").strip()
        if not plate or len(plate) > MAX_PLATE:
            problems.append("line %d: plate must be 1..%d characters" % (number, MAX_PLATE))
        elif label not in ("allow", "deny"):
            problems.append("line %d: label must be allow or deny, got %r" % (number, label[:20]))
        elif len(note) > MAX_NOTE:
            problems.append("line %d: note longer than %d" % (number, MAX_NOTE))
        else:
            rows.append((plate, label, note))
        if len(rows) > MAX_IMPORT_ROWS:
            problems.append("more than %d rows" % MAX_IMPORT_ROWS)
            break
    return rows, problems


def _back(message: str) -> Response:
    from urllib.parse import quote

    return RedirectResponse("/known?done=" + quote(message), status_code=303)
