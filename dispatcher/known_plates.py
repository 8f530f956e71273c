"""Known-plates lists: plate -> allow/deny label and a note, added to plate events.

Formats (chosen by file extension):
- CSV: ``plate,label,note`` rows (a header row naming ``plate`` is skipped).
- YAML: a mapping ``ABC123: {label: allow, note: "staff"}`` (or ``ABC123: deny``),
  or a list of ``{plate, label, note}`` maps.
Plates are compared normalised (upper-case alphanumerics), so 'abc-123' matches 'ABC123'.
"""
import csv
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional

from alpr.errors import ConfigError
from alpr.plate_formats import normalize_plate

LABELS = ("allow", "deny")
log = logging.getLogger(__name__)


class KnownPlates(object):
    """An in-memory lookup table of labelled plates."""

    def __init__(self, entries: Optional[Dict[str, Dict[str, str]]] = None) -> None:
        self.entries = {}  # type: Dict[str, Dict[str, str]]
        for plate, info in (entries or {}).items():
            self.add(plate, info.get("label", ""), info.get("note", ""))
        self.base = dict(self.entries)  # the file's plates; a source's plates go over them
        self.source = None  # type: Optional[Callable[[], List[Dict[str, Any]]]]
        self.every_s = 0.0
        self.next_refresh = 0.0

    def follow(self, source: Callable[[], List[Dict[str, Any]]], every_s: float) -> "KnownPlates":
        """Also take plates from `source()` (the event store's list, edited through the API),
        re-read at most every `every_s`; while it fails, the last good list stays."""
        self.base = dict(self.entries)
        self.source, self.every_s = source, float(every_s)
        self.refresh()
        return self

    def refresh(self, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        if self.source is None or now < self.next_refresh:
            return
        self.next_refresh = now + self.every_s
        try:
            rows = self.source()
        except Exception as exc:  # noqa: BLE001 - the store may be down; labels stay as they were
            log.debug("known plates not refreshed: %s", exc)
            return
        entries = dict(self.base)
        for row in rows:
            entries[normalize_plate(str(row.get("plate", "")))] = {
                "label": str(row.get("label", "")), "note": str(row.get("note", ""))}
        self.entries = entries

    def add(self, plate: str, label: str, note: str = "") -> None:
        """Add one plate; the label must be 'allow' or 'deny'."""
        key = normalize_plate(plate)
        label = str(label or "").strip().lower()
        if not key:
            raise ConfigError("known plate %r has no letters or digits" % (plate,))
        if label not in LABELS:
            raise ConfigError("known plate %s: label must be allow or deny, got %r" % (plate, label))
        self.entries[key] = {"label": label, "note": str(note or "")}

    def lookup(self, plate: str) -> Optional[Dict[str, str]]:
        """{'label', 'note'} for a known plate, else None."""
        self.refresh()
        return self.entries.get(normalize_plate(plate))

    def annotate(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Add `label` and `note` to an event dict (empty strings when the plate is unknown)."""
        info = self.lookup(event.get("plate", "")) or {"label": "", "note": ""}
        event["label"] = info["label"]
        event["note"] = info["note"]
        return event

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def load(cls, path: str) -> "KnownPlates":
        """Read a CSV or YAML list; errors name the file and line."""
        path = os.path.expanduser(path)
        table = cls()
        try:
            if path.lower().endswith((".yaml", ".yml")):
                _load_yaml(table, path)
            else:
                _load_csv(table, path)
        except OSError as exc:
            raise ConfigError("cannot read known plates %s: %s" % (path, exc)) from exc
        return table


def _load_csv(table: KnownPlates, path: str) -> None:
    with open(path, newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), 1):
            cells = [c.strip() for c in row]
            if not cells or not cells[0] or cells[0].startswith("#"):
                continue
            if lineno == 1 and cells[0].lower() == "plate":
                continue
            if len(cells) < 2:
                raise ConfigError("%s:%d: expected plate,label[,note]" % (path, lineno))
            try:
                table.add(cells[0], cells[1], ",".join(cells[2:]))
            except ConfigError as exc:
                raise ConfigError("%s:%d: %s" % (path, lineno, exc)) from exc


def _load_yaml(table: KnownPlates, path: str) -> None:
    import yaml

    with open(path) as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError("known plates %s: %s" % (path, exc)) from exc
    items = []  # type: List[Any]
    if isinstance(data, dict):
        for plate, info in data.items():
            if isinstance(info, dict):
                items.append((plate, info.get("label"), info.get("note", "")))
            else:
                items.append((plate, info, ""))
    elif isinstance(data, list):
        for info in data:
            if not isinstance(info, dict):
                raise ConfigError("known plates %s: list items must be maps" % path)
            items.append((info.get("plate"), info.get("label"), info.get("note", "")))
    else:
        raise ConfigError("known plates %s must hold a mapping or a list" % path)
    for plate, label, note in items:
        table.add(str(plate or ""), str(label or ""), str(note or ""))
