"""Shared bench output: table, JSON as the last line, PNG plots."""
import json

import click
import numpy as np
from click.testing import CliRunner

from bench.report import emit, format_table, json_line, plot_bars, plot_lines, report_options


def test_table_aligns_columns_and_formats_numbers():
    text = format_table(["reader", "fps"], [["pipeline", 2.34567], ["ref", 12.0], ["none", None]])
    lines = text.splitlines()
    assert lines[0].startswith("reader") and set(lines[1]) <= {"-", " "}
    assert "2.346" in lines[2] and "12.0" in lines[3] and lines[4].endswith("-")
    assert len({len(l) for l in lines[:2]}) == 1


def test_json_line_handles_numpy_and_nan():
    obj = json.loads(json_line({"a": np.float32(1.5), "b": np.arange(3), "c": float("nan")}))
    assert obj == {"a": 1.5, "b": [0, 1, 2], "c": None}


def test_emit_puts_json_last_through_a_command(tmp_path):
    @click.command()
    @report_options
    def cmd(as_json, plot_path):
        if plot_path:
            plot_bars(plot_path, "t", ["x"], {"a": [1.0], "b": [2.0]}, stacked=True)
        emit({"fps": 3.0}, ["k", "v"], [["fps", 3.0]], as_json, title="demo", notes=["note"])

    png = str(tmp_path / "out.png")
    result = CliRunner().invoke(cmd, ["--json", "--plot", png])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "demo" and "note" in lines
    assert json.loads(lines[-1]) == {"fps": 3.0}
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_lines_writes_png(tmp_path):
    path = plot_lines(str(tmp_path / "l.png"), "t", [1, 2, 3], {"a": [1, 2, None], "b": [3, 2, 1]})
    with open(path, "rb") as fh:
        assert fh.read(4) == b"\x89PNG"


def test_reimpl_bench_compares_like_with_like():
    """bench.reimpl times each re-implementation against the library it copies: the two
    sides of each case produce the same picture (the docstrings' speed lines rest on it)."""
    import numpy as np

    from bench.reimpl import cases

    for name, ours, theirs in cases():
        if theirs is None:
            continue
        a, b = ours(), theirs()
        a, b = (a[0] if isinstance(a, tuple) else a), (b[0] if isinstance(b, tuple) else b)
        assert a.shape == b.shape, name
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        if name == "jpeg_strips":  # chroma upsampling differs only in the rows beside a seam
            assert (diff.max(axis=(1, 2)) > 0).sum() <= 2 and diff.max() <= 40
        else:
            assert diff.max() <= (1e-6 if name == "letterbox" else 0), (name, diff.max())
