"""alpr.terminal: rich tables/progress at a terminal, the commands' own plain text otherwise."""
import io

import pytest

from alpr import terminal
from dispatcher.status import format_table, tables

STATUS = {
    "nodes": [{"name": "nano-1", "alive": True, "drained": False, "running": 2,
               "stats": {"fps": 4.25, "p50_ms": 180.0, "frames": 99}}],
    "queues": {"alpr:frames": 3},
    "cameras": {"cam0": {"produced": 5, "read": 3, "stale": 0, "dropped": 1, "failed": 1,
                         "in_flight": 0, "invariant_ok": True}},
    "totals": {"produced": 5, "read": 3, "stale": 0, "dropped": 1, "failed": 1, "in_flight": 0,
               "invariant_ok": True, "failed_by_reason": {"bad_image": 1}},
    "results": {"length": 4, "pending": 0}, "events": 2, "security": {},
}


def test_not_a_terminal_prints_the_plain_text_byte_for_byte(capsys):
    sections, notes = tables(STATUS)
    terminal.print_tables(sections, notes, plain=lambda: format_table(STATUS))
    assert capsys.readouterr().out == format_table(STATUS) + "\n"


def test_rich_draws_the_same_cells_at_a_terminal():
    pytest.importorskip("rich")
    from rich.console import Console

    out = io.StringIO()
    sections, notes = tables(STATUS)
    terminal.print_tables(sections, notes, plain=lambda: "unused",
                          console=Console(file=out, width=120, color_system=None))
    text = out.getvalue()
    for cell in ("NODES", "nano-1", "4.2", "CAMERAS", "TOTAL", "bad_image=1",
                 "results stream: 4 entries"):
        assert cell in text, cell
    assert "unused" not in text


def test_rich_console_only_for_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())  # a pipe, not a tty
    assert terminal.rich_console() is None


def test_progress_without_a_terminal_counts_to_the_end(capsys):
    seen = []
    with terminal.progress_items([1, 2, 3], "test") as items:
        for item in items:
            seen.append(item)
    assert seen == [1, 2, 3]
    with terminal.progress(4, "test") as advance:
        advance(4)
