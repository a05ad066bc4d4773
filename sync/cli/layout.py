"""Tables that never cut what an operator copies: ids, tokens, account names.

Rich shrinks a table that is wider than the terminal by truncating cells with an ellipsis, so at 80
columns `pat-na1-2d8d1…` was printed where a token was needed. Here every column says what it holds:
`id` (copied: never broken, never shortened), `number` (short, right-aligned) or `text` (prose: wraps at
spaces). The widths are computed up front: when the ids and numbers fit beside the shortest wrap of the
text, it is a table with those exact widths (rich has nothing left to shrink); otherwise each row is
stacked, its ids on a heading line and the other columns as `name value` pairs below it, wrapped
between pairs, never inside an id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

Cell = str | Text
_BOX = box.HEAVY_HEAD


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Literal["id", "number", "text"] = "text"


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _length(cell: Cell) -> int:
    return max((cell_len(line) for line in _text(cell).plain.split("\n")), default=0)


def _longest_word(cell: Cell) -> int:
    return max((cell_len(word) for word in _text(cell).plain.split()), default=0)


def _widths(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Each column's width, or None when the table cannot fit in `width` without breaking an id."""
    least, most = [], []
    for index, column in enumerate(columns):
        cells = [row[index] for row in rows]
        full = max([_length(column.name), *(_length(cell) for cell in cells)])
        if column.kind == "text":
            least.append(max([_longest_word(column.name), *(_longest_word(cell) for cell in cells)]))
        else:
            least.append(max(full, _longest_word(column.name)))
        most.append(full)
    overhead = 3 * len(columns) + 1  # a border before each column and after the last, one space each side
    room = width - overhead - sum(least)
    if room < 0:
        return None
    widths = list(least)
    for index, column in enumerate(columns):  # the rest goes to the text columns, left to right
        if column.kind == "text" and room > 0:
            extra = min(room, most[index] - widths[index])
            widths[index] += extra
            room -= extra
    return widths


def fitted(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int, *,
           caption: str | None = None) -> RenderableType:
    """`rows` under `title`, as a table when it fits in `width` columns, else stacked (module docstring)."""
    widths = _widths(columns, rows, width)
    if widths is None:
        return stacked(title, columns, rows, width, caption=caption)
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", box=_BOX)
    for column, size in zip(columns, widths, strict=True):
        table.add_column(column.name, width=size, no_wrap=column.kind != "text", overflow="fold",
                         justify="right" if column.kind == "number" else "left")
    for row in rows:
        table.add_row(*row)
    return table


def stacked(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int, *,
            caption: str | None = None) -> RenderableType:
    """One block per row: the id cells on a heading line, every other column as `name value` below."""
    lines: list[RenderableType] = [Text(title, style="italic")]
    for row in rows:
        heading = Text()
        for cell in (cell for column, cell in zip(columns, row) if column.kind == "id"):
            if heading.plain:
                heading.append("  ")
                heading.append_text(_text(cell))
            else:
                heading.append_text(_text(cell).copy())
                heading.stylize("bold")
        lines.append(heading)
        line = Text("  ")
        for column, cell in zip(columns, row):
            value = _text(cell)
            if column.kind == "id" or not value.plain.strip():
                continue
            pair = Text.assemble((column.name, "dim"), " ", value)
            if "\n" in value.plain or len(line) + 2 + pair.cell_len > width:
                if line.plain.strip():
                    lines.append(line)
                line = Text("  ")
            if "\n" in value.plain:  # one value a line, each whole (credentials: copied one by one)
                lines.append(Text.assemble("  ", (column.name, "dim")))
                lines.extend(Text("    ").append_text(part) for part in value.split("\n"))
                continue
            line.append_text(pair if not line.plain.strip() else Text("  ").append_text(pair))
        if line.plain.strip():
            lines.append(line)
    if caption:
        lines.append(Text(caption, style="italic"))
    return Group(*lines)
