"""How commands print: rich tables on a terminal, aligned plain text when piped, JSON on request.

Commands build a list of sections (Table, Fields, Block) and a one-line summary; `render` draws
them. rich is imported only when drawing for a terminal (it costs ~70 ms at start-up), and the
section types are NamedTuples (dataclasses would import inspect: ~10 ms more per command).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple, TextIO

STATUS_STYLES = {
    "pending": "dim",
    "uploading": "blue",
    "running": "bold cyan",
    "downloading": "blue",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
}
HIGHLIGHT = "bold black on yellow"


class Styled(NamedTuple):
    """Cell text with a rich style, and spans to highlight (search matches)."""

    text: str
    style: str | None = None
    highlights: Sequence[tuple[int, int]] = ()


Cell = str | Styled | None
"""A table or field value; None shows as empty."""


class Table(NamedTuple):
    columns: list[str]
    rows: list[list[Cell]]
    title: str | None = None


class Fields(NamedTuple):
    """Label: value lines."""

    items: list[tuple[str, Cell]]
    title: str | None = None


class Block(NamedTuple):
    """A block of text (a prompt, JSON, a log tail)."""

    text: str
    title: str | None = None


Section = Table | Fields | Block


def status_cell(status: str | None) -> Styled:
    return Styled(status or "", STATUS_STYLES.get(status or ""))


def number(value: float | None, digits: int = 1) -> str:
    """A float with `digits` decimals ('' for None)."""
    return "" if value is None else f"{value:.{digits}f}"


def truncate(text: str | None, width: int) -> str:
    """One line of at most `width` characters (`…` where cut)."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def human_bytes(size: float | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def print_json(data: Any, file: TextIO | None = None) -> None:
    """Plain JSON on stdout (nothing else goes there with --json)."""
    out = file or sys.stdout
    out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _text(cell: Cell) -> str:
    return cell.text if isinstance(cell, Styled) else cell or ""


def render(
    sections: list[Section],
    summary: str | None = None,
    *,
    file: TextIO | None = None,
    rich: bool | None = None,
) -> None:
    """Draw sections then the summary line: with rich on a terminal, as plain text otherwise."""
    out = file or sys.stdout
    if rich if rich is not None else out.isatty():
        _render_rich(sections, summary, out)
    else:
        _render_plain(sections, summary, out)


def _render_plain(sections: list[Section], summary: str | None, out: TextIO) -> None:
    lines: list[str] = []
    for section in sections:
        if section.title:
            lines.append(f"== {section.title} ==")
        if isinstance(section, Table):
            cells = [section.columns, *([_text(cell) for cell in row] for row in section.rows)]
            widths = [max(len(row[i]) for row in cells) for i in range(len(section.columns))]
            lines += [
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                for row in cells
            ]
        elif isinstance(section, Fields):
            width = max((len(label) for label, _ in section.items), default=0)
            lines += [
                f"{label.ljust(width)}  {_text(value)}".rstrip() for label, value in section.items
            ]
        else:
            lines.append(section.text)
        lines.append("")
    if summary:
        lines.append(summary)
    out.write("\n".join(lines).rstrip("\n") + "\n")


def _rich_text(cell: Cell) -> Any:
    from rich.text import Text

    if not isinstance(cell, Styled):
        return Text(cell or "")
    text = Text(cell.text, style=cell.style or "")
    for start, end in cell.highlights:
        text.stylize(HIGHLIGHT, start, end)
    return text


def _rich_section(section: Section) -> Any:
    from rich import box
    from rich.panel import Panel
    from rich.table import Table as RichTable
    from rich.text import Text

    if isinstance(section, Table):
        table = RichTable(
            title=section.title,
            box=box.SIMPLE_HEAD,
            header_style="bold",
            title_justify="left",
            title_style="bold",
        )
        last = len(section.columns) - 1
        for index, column in enumerate(section.columns):
            table.add_column(column, no_wrap=index != last)  # the last column wraps
        for row in section.rows:
            table.add_row(*(_rich_text(cell) for cell in row))
        return table
    if isinstance(section, Fields):
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column()
        for label, value in section.items:
            grid.add_row(label, _rich_text(value))
        return Panel(grid, title=section.title, title_align="left") if section.title else grid
    return Panel(Text(section.text), title=section.title, title_align="left")


def _render_rich(sections: list[Section], summary: str | None, out: TextIO) -> None:
    from rich.console import Console

    console = Console(file=out, highlight=False)
    for section in sections:
        console.print(_rich_section(section))
    if summary:
        console.print(summary, style="dim")
