"""`alpr doctor`: run the node checks (worker.doctor), print ok/warn/fail lines with their
fixes (a rich table where rich is installed, plain lines otherwise, e.g. on a bare Nano),
or --json; exit 1 on any fail."""
import json
import sys
from typing import List, Optional

import click

from alpr.cli_options import build_settings
from worker.doctor import FAIL, WARN, Check, run_checks


def render_plain(rows: List[Check]) -> str:
    """One line per check: STATUS  name  detail, then '-> fix' when there is one."""
    lines = []
    for row in rows:
        lines.append("%-4s  %-14s %s" % (row.status.upper(), row.name, row.detail))
        if row.fix and row.status != "ok":
            lines.append("      %-14s -> %s" % ("", row.fix))
    return "\n".join(lines)


def render_rich(rows: List[Check]) -> bool:
    """Print a rich table; False where rich is not installed."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return False
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    table = Table(title="alpr doctor")
    for column in ("status", "check", "found", "fix"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row("[%s]%s[/]" % (colours[row.status], row.status), row.name, row.detail,
                      row.fix if row.status != "ok" else "")
    Console().print(table)
    return True


@click.command("doctor")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="ALPR_CONFIG",
              help="YAML settings file (as the worker uses).")
@click.option("--json", "as_json", is_flag=True, help="The checks as one JSON object.")
@click.option("--plain", is_flag=True, help="Plain lines even where rich is installed.")
def doctor_cmd(config_file: Optional[str], as_json: bool, plain: bool) -> None:
    """Check this node before its first frame: Python, JetPack, TensorRT, CUDA, memory, engine
    cache, models, Redis (version, auth/TLS), clock skew, settings. Exit 1 on any fail."""
    settings = build_settings(config_file)
    rows = run_checks(settings)
    failed = sum(r.status == FAIL for r in rows)
    warned = sum(r.status == WARN for r in rows)
    if as_json:
        click.echo(json.dumps({"checks": [r._asdict() for r in rows], "fail": failed,
                               "warn": warned}, sort_keys=True))
    else:
        if plain or not render_rich(rows):
            click.echo(render_plain(rows))
        click.echo("%d fail, %d warn, %d ok" % (failed, warned, len(rows) - failed - warned))
    if failed:
        sys.exit(1)
