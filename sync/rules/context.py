"""What a compiled condition reads: one contact's data at one instant, prepared once per evaluation.

The engine makes one pass over a contact's events and activities and hands the
predicates this context: event times bucketed by type as sorted epoch seconds
(so "at least 3 downloads in the last 30 days" is two bisections) and
activities as tuples sorted by time. `now` is the instant of the evaluation;
the engine moves it back when it replays a contact's history to find the
moment it first qualified, and every count only sees what is dated at or
before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DAY = 86_400.0
TEXT_LIMIT = 4096  # text comparisons look at the first 4096 characters: a megabyte string costs no more
ANY_TYPE = "*"  # bucket holding every event, for queries without a type


class Context:
    """Everything the predicates read about one contact at one instant."""

    __slots__ = ("contact", "fields", "now", "event_times", "activity_rows", "deals", "owner", "scores",
                 "recurring_months")

    def __init__(self, contact: Any, now: float, event_times: dict[Any, list[float]], activity_rows: list[Any],
                 recurring_months: int) -> None:
        self.contact: Any = contact  # typed Any: bad data must reach the predicates, which treat it as no signal
        fields = contact.fields
        self.fields: Any = fields if fields else {}
        self.now = now
        self.event_times = event_times  # event type (or (type, source)) -> sorted epoch seconds
        self.activity_rows: list[Any] = activity_rows  # (epoch, kind, by, direction, done, automated), by time
        self.deals: Any = contact.deals or []
        self.owner: Any = contact.owner_id
        self.scores: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # total, fit, engagement, intent
        self.recurring_months = recurring_months


Predicate = Callable[[Context], bool]


class Plan:
    """What the compiled rules need bucketed: event types, (type, source) pairs, and the sales team."""

    def __init__(self, team: frozenset[str] = frozenset(), recurring_months: int = 12) -> None:
        self.types: set[str] = set()
        self.pairs: set[tuple[str, str]] = set()
        self.any_type = False
        self.any_type_sources: set[str] = set()
        self.team = team
        self.recurring_months = recurring_months

    def event_keys(self, types: list[str] | None, sources: list[str] | None) -> list[Any]:
        """The bucket keys to read for a query, registering them so the engine fills them. A type or source
        listed twice is read once (it must not count twice)."""
        types = list(dict.fromkeys(types)) if types is not None else None
        sources = list(dict.fromkeys(sources)) if sources else None
        if sources:
            if types is None:
                self.any_type_sources.update(sources)
                return [(ANY_TYPE, source) for source in sources]
            self.pairs.update((kind, source) for kind in types for source in sources)
            return [(kind, source) for kind in types for source in sources]
        if types is None:
            self.any_type = True
            return [ANY_TYPE]
        self.types.update(types)
        return list(types)

    @property
    def by_type_only(self) -> bool:
        """Whether every query names its event types and no source: the usual plan, bucketed in one lookup."""
        return not (self.any_type or self.pairs or self.any_type_sources)


__all__ = ["ANY_TYPE", "DAY", "TEXT_LIMIT", "Context", "Plan", "Predicate"]
