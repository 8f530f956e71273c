"""Output helpers shared by every `alpr bench` verb: a table, a JSON last line, a plot.

Contract: the human table goes to stdout first; with `--json` the very last stdout line
is one JSON object (progress and logs go to stderr); `--plot out.png` writes a chart
with matplotlib (imported only then, with the non-interactive Agg backend).
"""
import json
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

import click


def report_options(func: Callable) -> Callable:
    """Add `--json` (as_json) and `--plot PATH` (plot_path) to a bench command."""
    func = click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
                        help="Also write a chart to this PNG file (needs matplotlib).")(func)
    func = click.option("--json", "as_json", is_flag=True,
                        help="End with one JSON object on the last line.")(func)
    return func


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return "%.3f" % value if abs(value) < 10 else "%.1f" % value
    return "-" if value is None else str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain fixed-width text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title] if title else []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_jsonable(value: Any) -> Any:
    """numpy scalars/arrays, tuples and NaN made safe for json.dumps."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy array or scalar
        return to_jsonable(value.tolist())
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def json_line(summary: Dict[str, Any]) -> str:
    """One-line JSON text of a summary (sorted keys)."""
    return json.dumps(to_jsonable(summary), sort_keys=True)


def emit(summary: Dict[str, Any], headers: Sequence[str], rows: Sequence[Sequence[Any]],
         as_json: bool = False, title: str = "", notes: Sequence[str] = ()) -> None:
    """Print the table (and notes) to stdout; with as_json, the JSON object as the last line.

    At a terminal with rich installed the table is rich's (alpr.terminal); piped, the
    plain fixed-width text."""
    from alpr.terminal import print_tables

    print_tables([(title, headers, rows)], notes, cell=_cell,
                 plain=lambda: "\n".join([format_table(headers, rows, title)] + list(notes)))
    if as_json:
        click.echo(json_line(summary))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(path: str, title: str, labels: Sequence[str], series: Dict[str, Sequence[float]],
              ylabel: str = "", stacked: bool = False) -> str:
    """Grouped (or stacked) bar chart: one group per label, one bar per series; returns path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(labels) + 2), 4))
    n = max(1, len(series))
    width = 0.8 if stacked else 0.8 / n
    bottoms = [0.0] * len(labels)
    for i, (name, values) in enumerate(series.items()):
        values = [float(v or 0.0) for v in values]
        if stacked:
            xs = list(range(len(labels)))
            ax.bar(xs, values, width, bottom=bottoms, label=name)
            bottoms = [b + v for b, v in zip(bottoms, values)]
        else:
            xs = [x - 0.4 + width * (i + 0.5) for x in range(len(labels))]
            ax.bar(xs, values, width, label=name)
    ax.set_xticks(list(range(len(labels))))
    ax.set_xticklabels(list(labels))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:  # beside the bars, never over them
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_lines(path: str, title: str, xs: Sequence[float], series: Dict[str, Sequence[float]],
               xlabel: str = "", ylabel: str = "") -> str:
    """Line chart of several series over the same x values; returns path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(list(xs), [float(v) if v is not None else float("nan") for v in values],
                marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def ms_median(values: List[float]) -> Optional[float]:
    """Median of a list of milliseconds, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0
