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

import re2

from sync.rules import schema
from sync.rules.context import TEXT_LIMIT
from sync.rules.patterns import compile_search
from sync.rules.text import fold, fold_pattern


def compile_title_levels(levels: Sequence[schema.TitleLevel]) -> Callable[[Any], str | None] | None:
    """job title -> the first level whose pattern it holds (None: no pattern found, or not a title);
    None when the rules list no levels."""
    if not levels:
        return None
    names = tuple(level.level for level in levels)
    patterns = [fold_pattern(level.matches) for level in levels]
    for pattern in patterns:
        compile_search(pattern)  # raises PatternError like any rule's pattern (validated at load already)
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    every = re2.Set.SearchSet(options)  # one pass over the title for all the levels
    for pattern in patterns:
        every.Add(pattern)
    every.Compile()
    match = every.Match

    def level_of(title: Any) -> str | None:
        if not isinstance(title, str) or not title.strip():
            return None
        found = match(fold(title[:TEXT_LIMIT]))
        return names[min(found)] if found else None
    return level_of


__all__ = ["compile_title_levels"]
