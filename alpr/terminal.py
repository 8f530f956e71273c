"""Tables and progress bars for people at a terminal: rich where it is installed.

rich draws the tables (`alpr status`, `alpr fleet nodes`, `alpr events search`, bench
summaries) and the progress bars (benches, evaluation) when the stream is a terminal. Piped
output, ``--json`` and a box without rich (the Nano's 3.6 venv) get the plain text they
always had, byte for byte, so scripts that read it keep working.
"""
import contextlib
import sys
from typing import Any, Callable, Iterator, List, Sequence


def rich_console(stderr: bool = False, force: bool = False) -> Any:
    """A rich Console on stdout (or stderr) when rich is installed and the stream is a
    terminal (``force``: whatever the stream); None otherwise, for the plain path."""
    stream = sys.stderr if stderr else sys.stdout
    if not force and not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream, stderr=stderr)


def rich_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "",
               cell: Callable[[Any], str] = str) -> Any:
    """A rich Table: first column left-aligned, the others right-aligned (numbers)."""
    from rich.table import Table
    from rich.text import Text  # plain text: a "[x]" in a cell is not rich markup

    table = Table(title=title or None, title_justify="left", header_style="bold")
    for i, name in enumerate(headers):
        table.add_column(str(name), justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[Text(cell(v)) for v in row])
    return table


def print_tables(tables: Sequence[Any], notes: Sequence[str], plain: Callable[[], str],
                 console: Any = None, cell: Callable[[Any], str] = str) -> None:
    """Print (title, headers, rows) tables and note lines with rich at a terminal, else
    ``plain()``'s text (the command's own format) with click.echo."""
    import click

    console = console if console is not None else rich_console()
    if console is None:
        text = plain()
        if text:
            click.echo(text)
        return
    for title, headers, rows in tables:
        console.print(rich_table(headers, rows, title, cell))
    for note in notes:
        console.print(note, highlight=False, markup=False)


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields ``advance(n)``. rich at a terminal, click's otherwise."""
    console = rich_console(stderr=True)
    if console is None:
        import click

        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
            yield bar.update
        return
    from rich.progress import Progress

    with Progress(console=console, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def progress_items(items: List[Any], label: str) -> Iterator[Iterator[Any]]:
    """Yields an iterator over ``items`` that advances a progress bar on stderr."""
    with progress(len(items), label) as advance:
        def each() -> Iterator[Any]:
            for item in items:
                yield item
                advance(1)

        yield each()
