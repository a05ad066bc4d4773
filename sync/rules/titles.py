"""Seniority read from the job title, for CRMs (and contacts) that record no seniority.

Many CRM records have a title and no seniority: "Directeur des systèmes
d'information", "DSI", "Head of Security", "Gérante". The rules file lists the
levels and the title patterns that carry them (`seniority_from_title`), in
order: the first level whose pattern is found in the title (compared without
case and accents) is the contact's seniority wherever a condition reads
`seniority`. A seniority the CRM gives always wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sync.rules import schema
from sync.rules.context import TEXT_LIMIT
from sync.rules.patterns import compile_search
from sync.rules.text import fold, fold_pattern


def compile_title_levels(levels: Sequence[schema.TitleLevel]) -> Callable[[Any], str | None] | None:
    """job title -> the first level whose pattern it holds (None: no pattern found, or not a title);
    None when the rules list no levels."""
    if not levels:
        return None
    tests = tuple((level.level, compile_search(fold_pattern(level.matches))) for level in levels)

    def level_of(title: Any) -> str | None:
        if not isinstance(title, str) or not title.strip():
            return None
        folded = fold(title[:TEXT_LIMIT])
        for level, found in tests:
            if found(folded):
                return level
        return None
    return level_of


__all__ = ["compile_title_levels"]
