"""The parts of `crmsync status` about what does not sync as it should though the account runs: the records
with problems (unreadable in a pull, refused for good by a push) and the setup warnings (a feature switched
off by the CRM's setup). Record ids and field names are `id` columns: never cut, at any width.
"""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.text import Text

from sync.cli.layout import Cell, Column, fitted
from sync.cli.tables import alarming, when
from sync.state import AccountRef, StateStore
from sync.state.record_problems import PULL, PUSH

RECENT = 20  # rows of record problems `status` shows without --problems


def problem_tables(store: StateStore, *, width: int, show_all: bool = False) -> list[RenderableType]:
    """Records with problems (count per account, then the most recent, or all with `show_all`), and the
    setup warnings of every account."""
    ledger = store.record_problems
    counts: dict[AccountRef, Counter[str]] = ledger.counts()
    total = sum(sum(c.values()) for c in counts.values())
    count_rows: list[list[Cell]] = [
        [ref.account, ref.crm, alarming(c.get(PULL, 0), "yellow"), alarming(c.get(PUSH, 0), "yellow")]
        for ref, c in sorted(counts.items())]
    if not total:  # one line, not an empty table
        parts: list[RenderableType] = [Text("Records with problems: 0", style="italic")]
    else:
        parts = [fitted(f"Records with problems: {total}",
                        [Column("account", "id"), Column("crm", "id"), Column("unreadable (pull)", "number"),
                         Column("refused (push)", "number")], count_rows, width)]
    if total:
        shown = ledger.problems(limit=None if show_all else RECENT)
        rows = ledger.size()
        parts.append(fitted(
            "record problems" + ("" if show_all else ", most recent first"),
            [Column("account", "id"), Column("source"), Column("object", "id"), Column("record", "id"),
             Column("field", "id"), Column("why"), Column("last seen")],
            [[p.account, p.source, p.object_type, p.record_id, p.field or "(record)", _why(p.reason, p.code),
              when(p.last_seen)] for p in shown], width,
            caption=(f"{rows - len(shown)} more: crmsync status --problems lists them all"
                     if rows > len(shown) else None)))
    warnings = ledger.warnings()
    parts.append(fitted(
        f"setup warnings: {len(warnings)}",
        [Column("account", "id"), Column("crm", "id"), Column("what"), Column("lost"), Column("to enable"),
         Column("since")],
        [[ref.account, ref.crm, Text(w.what, style="yellow"), w.lost, w.enable, when(since)]
         for ref, w, since in warnings], width))
    return parts


def _why(reason: str, code: str | None) -> str:
    return f"{code}: {reason}" if code and code not in reason else reason
