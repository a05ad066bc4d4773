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

    __slots__ = ("activity_rows", "contact", "deals", "derived", "event_times", "fields", "now", "owner",
                 "recurring_months", "scores", "title_levels")

    def __init__(self, contact: Any, now: float, event_times: dict[Any, list[float]], activity_rows: list[Any],
                 recurring_months: int, title_levels: Callable[[Any], str | None] | None = None) -> None:
        self.contact: Any = contact  # typed Any: bad data must reach the predicates, which treat it as no signal
        fields = contact.fields
        self.fields: Any = fields if fields else {}
        self.now = now
        self.event_times = event_times  # event type (or (type, source)) -> sorted epoch seconds
        # (epoch, kind, by, direction, done, automated, accepted epoch or None, withdrawn), sorted by time
        self.activity_rows: list[Any] = activity_rows
        self.deals: Any = contact.deals or []
        self.owner: Any = contact.owner_id
        self.scores: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # total, fit, engagement, intent
        self.recurring_months = recurring_months
        self.title_levels = title_levels  # job title -> seniority level, from the rules' seniority_from_title
        # what this contact's evaluation worked out once and reads again (a title's level, a timing's window):
        # made on first use, gone with the context, never shared between contacts
        self.derived: dict[Any, Any] | None = None

    def seniority(self) -> Any:
        """The CRM's seniority; when it has none, the level the rules derive from the job title."""
        given = self.contact.seniority
        if self.title_levels is None or (isinstance(given, str) and given.strip()):
            return given
        derived = self.derived
        if derived is None:
            derived = self.derived = {}
        elif "seniority" in derived:
            return derived["seniority"]
        level = derived["seniority"] = self.title_levels(self.contact.job_title) or given
        return level

    def remember(self, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()` the first time `key` is asked for during this evaluation, the same value afterwards."""
        derived = self.derived
        if derived is None:
            derived = self.derived = {}
        elif key in derived:
            return derived[key]
        value = derived[key] = compute()
        return value


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
