"""`alpr events search PLATE`, `alpr events show ID` and `alpr events picture ID`: the event
store from the shell."""
import json
import os
import time
from typing import Any, Dict, Optional

import click

from alpr.cli_options import build_settings

DB_HELP = "Event store: sqlite:///path or postgresql://... (default: DATA_DIR/events.db)."


def default_db_url(settings: Any) -> str:
    """The store the settings name, else the SQLite file in the data directory."""
    if settings.db:
        return settings.db
    return "sqlite:///" + os.path.join(os.path.expanduser(settings.data_dir), "events.db")


def _open(db: Optional[str], config_file: Optional[str]) -> Any:
    from alpr.errors import AlprError
    from store import open_store

    settings = build_settings(config_file, db=db)
    try:
        return open_store(default_db_url(settings))
    except AlprError as exc:
        raise click.ClickException(str(exc))


@click.group("events")
def events_group() -> None:
    """Search and show stored plate events (the event store, not the Redis stream)."""


@events_group.command("search")
@click.argument("plate", required=False, default="")
@click.option("--camera", default="", help="Only this camera.")
@click.option("--since", default=None, help="From this time: unix s, ISO 8601, or an age (2h, 3d).")
@click.option("--until", default=None, help="Up to this time (same forms).")
@click.option("--label", default="", help="allow, deny or unknown (no known-plate label).")
@click.option("--limit", type=int, default=None, help="Most events shown (default 50).")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ALPR_CONFIG")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object with `events`.")
def search_cmd(plate: str, camera: str, since: Optional[str], until: Optional[str], label: str,
               limit: Optional[int], db: Optional[str], config_file: Optional[str],
               as_json: bool) -> None:
    """Events of PLATE (fuzzy: look-alikes O/0, I/1, B/8... and one misread character),
    ranked by similarity then time; without PLATE, the newest events matching the filters."""
    from alpr import defaults
    from alpr.errors import AlprError
    from store.search import Query, search
    from store.timespec import parse_time

    store = _open(db, config_file)
    try:
        query = Query(plate=plate, camera=camera, since=parse_time(since),
                      until=parse_time(until), label=label,
                      limit=defaults.SEARCH_LIMIT if limit is None else limit)
        events = search(store, query)
    except AlprError as exc:
        raise click.ClickException(str(exc))
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"db": store.url, "query": plate, "count": len(events),
                               "events": events}, sort_keys=True))
        return
    if not events:
        click.echo("no events found")
        return
    from alpr.terminal import print_tables

    scored = any("score" in e for e in events)
    headers = ["first seen", "camera", "plate"] + (["score"] if scored else []) + \
        ["conf", "label", "id", "crop"]
    rows = [[_when(e.get("first_seen")), e.get("camera"), e.get("plate")] +
            (["%.1f" % e["score"] if "score" in e else ""] if scored else []) +
            ["%.2f" % float(e.get("confidence") or 0), e.get("label") or "-", e.get("id"),
             e.get("crop") or ""] for e in events]
    print_tables([("", headers, rows)], [], plain=lambda: "\n".join(_line(e) for e in events))


@events_group.command("show")
@click.argument("event_id")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ALPR_CONFIG")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def show_cmd(event_id: str, db: Optional[str], config_file: Optional[str], as_json: bool) -> None:
    """One stored event: plate, votes, camera, times, label, evidence paths."""
    store = _open(db, config_file)
    try:
        event = store.get(event_id)
        if event is not None:
            event["stored_reads"] = store.reads(event_id)
    finally:
        store.close()
    if event is None:
        raise click.ClickException("no event %r in %s" % (event_id, store.url))
    if as_json:
        click.echo(json.dumps(event, sort_keys=True))
        return
    for key in ("id", "plate", "confidence", "camera", "site", "label", "note", "frames",
                "crop", "frame"):
        click.echo("%-10s %s" % (key, event.get(key)))
    click.echo("%-10s %s .. %s" % ("seen", _when(event.get("first_seen")),
                                   _when(event.get("last_seen"))))
    for read in event["stored_reads"]:
        click.echo("  read %-10s x%d  conf %.2f" % (read["text"], read["count"],
                                                     read["confidence"]))


@events_group.command("picture")
@click.argument("event_id")
@click.option("--frame", "kind", flag_value="frame", help="The best frame, not the plate crop.")
@click.option("--crop", "kind", flag_value="crop", default=True, help="The plate crop (default).")
@click.option("--out", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the JPEG here (default: standard output).")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--evidence-dir", default=None, help="Evidence packs (default DATA_DIR/evidence).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ALPR_CONFIG")
def picture_cmd(event_id: str, kind: str, out: Optional[str], db: Optional[str],
                evidence_dir: Optional[str], config_file: Optional[str]) -> None:
    """An event's plate crop (or best frame) as a JPEG file: pictures live in evidence packs,
    a row's `crop` is `<pack>#<offset>+<length>`."""
    from store.evidence import EvidenceDir
    from store.sink import evidence_root

    store = _open(db, config_file)
    try:
        event = store.get(event_id)
    finally:
        store.close()
    if event is None:
        raise click.ClickException("no event %r in %s" % (event_id, store.url))
    settings = build_settings(config_file, db=db, evidence_dir=evidence_dir)
    data = EvidenceDir(evidence_root(settings)).read(event.get(kind))
    if data is None:
        raise click.ClickException("event %r has no %s (never sent, private camera, or purged)"
                                   % (event_id, kind))
    if out is None:
        click.get_binary_stream("stdout").write(data)
        return
    with open(out, "wb") as fh:
        fh.write(data)
    click.echo("%s: %d bytes" % (out, len(data)), err=True)


def _when(ts: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts or 0)))


def _line(event: Dict[str, Any]) -> str:
    score = " %6.1f" % event["score"] if "score" in event else ""
    return "%s %-10s %-10s%s conf %.2f %-5s %s  %s" % (
        _when(event.get("first_seen")), event.get("camera"), event.get("plate"), score,
        float(event.get("confidence") or 0), event.get("label") or "-", event.get("id"),
        event.get("crop") or "")
