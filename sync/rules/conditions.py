"""Compiles condition models into plain closures over an evaluation context.

Each condition becomes one `Predicate` (a function of `Ctx` returning bool),
built once when the rules load: regexes compiled, value sets frozen, windows
turned into seconds, the field getter chosen. Per contact there is no YAML, no
pydantic and no dispatch on the condition's kind, only the closures.

The context holds the contact's events bucketed by type as sorted epoch
seconds, so "at least 3 downloads in the last 30 days" is two bisections. Every
count is bounded above by `ctx.now`: events after the evaluation instant are
ignored (a future timestamp is bad data, not a signal), and the same closures
evaluate the contact as of an earlier instant when the engine looks for the
moment it first qualified.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from operator import attrgetter
from typing import Any, Final

from sync.model import Contact, Deal, DealStatus
from sync.rules import schema as s

DAY: Final = 86_400.0
TEXT_LIMIT: Final = 4096  # text comparisons look at the first 4096 characters: a megabyte string costs no more
ANY_TYPE: Final = "*"  # bucket holding every event, for queries without a type

_TRUE: Final = frozenset({"true", "yes", "1", "on", "y"})
_FALSE: Final = frozenset({"false", "no", "0", "off", "n"})


class Ctx:
    """Everything the predicates read about one contact at one instant."""

    __slots__ = ("c", "f", "now", "ev", "acts", "deals", "owner", "scores", "recurring_months", "prepared")

    def __init__(self, contact: Any, now: float, ev: dict[Any, list[float]], acts: list[Any],
                 recurring_months: int) -> None:
        # contact data is typed Any on purpose: compiled with mypyc, a declared type would be checked at run
        # time, and bad data must fail (or pass) exactly as it does interpreted
        self.c: Any = contact
        fields = contact.fields
        self.f: Any = fields if fields else {}
        self.now = now
        self.ev = ev  # event type (or (type, source)) -> sorted epoch seconds
        self.acts: list[Any] = acts  # (epoch, kind, by, direction, done, automated), sorted by time
        self.deals: Any = contact.deals or []
        self.owner: Any = contact.owner_id
        self.scores: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # total, fit, engagement, intent
        self.recurring_months = recurring_months
        # the C evaluator's copy of ev and acts (sync.rules.native); while set and ev/acts are not filled in
        # from it, only C nodes may read this context
        self.prepared: Any = None


Predicate = Callable[[Ctx], bool]


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
                return [(ANY_TYPE, src) for src in sources]
            self.pairs.update((t, src) for t in types for src in sources)
            return [(t, src) for t in types for src in sources]
        if types is None:
            self.any_type = True
            return [ANY_TYPE]
        self.types.update(types)
        return list(types)


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------- value coercion


def to_number(value: Any) -> float | None:
    """A number from an int, a float or numeric text ("5000", "12.5"); None for anything else or NaN."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip()[:64].replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def to_epoch(value: Any) -> float | None:
    """Epoch seconds from a datetime (naive means UTC), a date (midnight UTC) or ISO-8601 text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip()[:64])
        except ValueError:
            return None
    if isinstance(value, datetime):
        moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    return None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return None


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, set)):
        return not value
    return False


def getter(name: str) -> Callable[[Ctx], Any]:
    """The function reading field `name` (already validated by the schema) from the context's contact."""
    if name.startswith("fields."):
        key = name[len("fields."):]

        return lambda ctx: ctx.f.get(key)
    if name == "email_domain":
        def domain(ctx: Ctx) -> Any:
            email = ctx.c.email
            if isinstance(email, str) and "@" in email:
                return email[-TEXT_LIMIT:].rpartition("@")[2].strip()
            return None
        return domain
    attr = attrgetter(name)
    return lambda ctx: attr(ctx.c)


# ---------------------------------------------------------------------------------------------- field conditions


class _Equals:
    """Membership of a value in a set of expected scalars, each compared by its own type: text ignoring case
    (unless case-sensitive), numbers numerically (numeric text accepted), booleans as true/false/yes/no."""

    __slots__ = ("texts", "numbers", "bools", "fold")

    def __init__(self, expected: list[Any], case_sensitive: bool) -> None:
        self.fold: Callable[[str], str] = (lambda t: t) if case_sensitive else str.casefold
        self.texts = frozenset(self.fold(v.strip()) for v in expected if isinstance(v, str))
        self.numbers = frozenset(float(v) for v in expected if isinstance(v, (int, float)) and not isinstance(v, bool))
        self.bools = frozenset(v for v in expected if isinstance(v, bool))

    def one(self, value: Any) -> bool:
        if isinstance(value, str):
            if self.texts and self.fold(value[:TEXT_LIMIT].strip()) in self.texts:
                return True
            if self.numbers:
                number = to_number(value)
                if number is not None and number in self.numbers:
                    return True
            if self.bools:
                flag = to_bool(value)
                return flag is not None and flag in self.bools
            return False
        if isinstance(value, bool):
            return value in self.bools or (bool(self.texts) and ("true" if value else "false") in self.texts)
        if isinstance(value, (int, float)):
            if value in self.numbers:
                return True
            if self.bools and value in (0, 1) and bool(value) in self.bools:
                return True
            return bool(self.texts) and self.fold(repr(value) if isinstance(value, float) else str(value)) in self.texts
        return False

    def __call__(self, value: Any) -> bool:
        if isinstance(value, (list, tuple, set)):
            return any(self.one(item) for item in value)
        return self.one(value)


def _text_pred(cond: s.FieldCondition) -> Callable[[Any], bool]:
    fold: Callable[[str], str] = (lambda t: t) if cond.case_sensitive else str.casefold
    if cond.contains is not None:
        needle = fold(cond.contains)

        def contains_one(value: Any) -> bool:
            return isinstance(value, str) and needle in fold(value[:TEXT_LIMIT])

        def contains(value: Any) -> bool:
            if isinstance(value, (list, tuple, set)):
                return any(isinstance(v, str) and fold(v[:TEXT_LIMIT].strip()) == needle for v in value)
            return contains_one(value)
        return contains
    assert cond.matches is not None
    pattern = re.compile(cond.matches, 0 if cond.case_sensitive else re.IGNORECASE)
    search = pattern.search

    def matches(value: Any) -> bool:
        if isinstance(value, str):
            return search(value[:TEXT_LIMIT]) is not None
        if isinstance(value, (list, tuple, set)):
            return any(isinstance(v, str) and search(v[:TEXT_LIMIT]) is not None for v in value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return search(str(value)) is not None
        return False
    return matches


def _range_pred(gt: float | None, gte: float | None, lt: float | None, lte: float | None
                ) -> Callable[[float], bool]:
    lo = gt if gt is not None else gte
    hi = lt if lt is not None else lte
    lo_open, hi_open = gt is not None, lt is not None
    if lo is not None and hi is not None:
        if lo_open or hi_open:
            return lambda x: (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)
        return lambda x: lo <= x <= hi
    if lo is not None:
        return (lambda x: x > lo) if lo_open else (lambda x: x >= lo)
    assert hi is not None
    return (lambda x: x < hi) if hi_open else (lambda x: x <= hi)


def _text_in(name: str, equals: _Equals) -> Predicate:
    """The common case, inlined: a text field against a set of texts, ignoring case. Reads the attribute or
    custom field directly (one call less per contact than going through `getter`)."""
    texts = equals.texts
    if name.startswith("fields."):
        key = name[len("fields."):]

        def custom(ctx: Ctx) -> bool:
            value = ctx.f.get(key)
            if isinstance(value, str):
                return value[:TEXT_LIMIT].strip().casefold() in texts
            return equals(value)
        return custom
    if name in s.KNOWN_FIELDS and name != "email_domain":
        attr = attrgetter(name)

        def attribute(ctx: Ctx) -> bool:
            value = attr(ctx.c)
            if isinstance(value, str):
                return value[:TEXT_LIMIT].strip().casefold() in texts
            return equals(value)
        return attribute
    get = getter(name)

    def derived(ctx: Ctx) -> bool:
        value = get(ctx)
        if isinstance(value, str):
            return value[:TEXT_LIMIT].strip().casefold() in texts
        return equals(value)
    return derived


def compile_field(cond: s.FieldCondition) -> Predicate:
    get = getter(cond.field)
    ops = cond.operators
    op = ops[0]
    if op in ("eq", "ne", "in", "not_in"):
        expected = [cond.eq] if op == "eq" else [cond.ne] if op == "ne" else list(cond.in_ or cond.not_in or [])
        equals = _Equals(expected, cond.case_sensitive)
        if not equals.numbers and not equals.bools and not cond.case_sensitive:
            positive: Predicate = _text_in(cond.field, equals)
        else:
            positive = lambda ctx: equals(get(ctx))
        if op in ("ne", "not_in"):
            return lambda ctx: not positive(ctx)
        return positive
    if op in ("contains", "matches"):
        test = _text_pred(cond)
        return lambda ctx: test(get(ctx))
    if op == "exists":
        want = bool(cond.exists)
        return lambda ctx: is_empty(get(ctx)) is not want
    if op in ("within_days", "older_than_days"):
        span = (cond.within_days or cond.older_than_days or 0.0) * DAY
        if op == "within_days":
            def within(ctx: Ctx) -> bool:
                when = to_epoch(get(ctx))
                return when is not None and ctx.now - span <= when <= ctx.now
            return within

        def older(ctx: Ctx) -> bool:
            when = to_epoch(get(ctx))
            return when is not None and when < ctx.now - span
        return older
    in_range = _range_pred(cond.gt, cond.gte, cond.lt, cond.lte)
    if cond.field in s.NUMBER_FIELDS:
        attr = attrgetter(cond.field)

        def attribute(ctx: Ctx) -> bool:  # a typed number attribute: no conversion in the usual case
            value = attr(ctx.c)
            if value.__class__ is int or value.__class__ is float:
                return in_range(value)
            number = to_number(value)
            return number is not None and in_range(number)
        return attribute

    def ranged(ctx: Ctx) -> bool:
        number = to_number(get(ctx))
        return number is not None and in_range(number)
    return ranged


# ---------------------------------------------------------------------------------------------- counts


def _count_check(at_least: int, at_most: int | None) -> Callable[[int], bool]:
    if at_most is None:
        return lambda n: n >= at_least
    return lambda n: at_least <= n <= at_most


def count_events(keys: list[Any], within_days: float | None) -> Callable[[Ctx], int]:
    """The number of events in the given buckets at or before ctx.now (and within the window, if any)."""
    span = within_days * DAY if within_days else None
    if len(keys) == 1:
        key = keys[0]
        if span is None:
            def count_all(ctx: Ctx) -> int:
                times = ctx.ev.get(key)
                return bisect_right(times, ctx.now) if times else 0
            return count_all

        def count_window(ctx: Ctx) -> int:
            times = ctx.ev.get(key)
            if not times:
                return 0
            now = ctx.now
            hi = len(times) if times[-1] <= now else bisect_right(times, now)
            return hi - bisect_left(times, now - span)
        return count_window

    def count_many(ctx: Ctx) -> int:
        now, total, ev = ctx.now, 0, ctx.ev
        for key in keys:
            times = ev.get(key)
            if times:
                total += bisect_right(times, now) - (bisect_left(times, now - span) if span is not None else 0)
        return total
    return count_many


def compile_events(cond: s.EventsCondition, plan: Plan) -> Predicate:
    q = cond.events
    keys = plan.event_keys(_as_list(q.type), _as_list(q.source))
    count = count_events(keys, q.within_days)
    check = _count_check(q.at_least, q.at_most)
    if q.at_most is None and q.at_least == 1:
        return lambda ctx: count(ctx) > 0
    return lambda ctx: check(count(ctx))


def compile_activities(cond: s.ActivitiesCondition, plan: Plan) -> Predicate:
    q = cond.activities
    kinds = frozenset(str(k) for k in _as_list(q.kind) or ()) if q.kind is not None else None
    span = q.within_days * DAY if q.within_days else None
    by, direction, team = q.by, q.direction, plan.team
    with_automated, with_open = q.include_automated, q.include_open
    check = _count_check(q.at_least, q.at_most)

    def count(ctx: Ctx) -> int:
        now, owner, n = ctx.now, ctx.owner, 0
        start = now - span if span is not None else -math.inf
        for at, kind, who, way, done, automated in ctx.acts:
            if at > now:
                break
            if at < start or (kinds is not None and kind not in kinds):
                continue
            if (automated and not with_automated) or (not done and not with_open):
                continue
            if direction is not None and way != direction:
                continue
            if by == "owner" and (who is None or who != owner):
                continue
            if by == "sales" and (who is None or (who != owner and who not in team)):
                continue
            n += 1
        return n
    return lambda ctx: check(count(ctx))


def deal_is_recurring(deal: Any, min_months: int) -> bool:
    """A deal's nature: its recurring flag when the CRM says, else a contract of at least `min_months`."""
    if deal.recurring is not None:
        return bool(deal.recurring)
    months = deal.contract_months
    return isinstance(months, int) and not isinstance(months, bool) and months >= min_months


def compile_deals(cond: s.DealsCondition) -> Predicate:
    q = cond.deals
    statuses = frozenset(DealStatus(v) for v in _as_list(q.status) or ()) if q.status is not None else None
    stages = frozenset(_as_list(q.stage) or ()) if q.stage is not None else None
    lo, hi, recurring = q.amount_gte, q.amount_lte, q.recurring
    span = q.closed_within_days * DAY if q.closed_within_days else None
    check = _count_check(q.at_least, q.at_most)

    def one(deal: Any, ctx: Ctx) -> bool:
        if statuses is not None and deal.status not in statuses:
            return False
        if stages is not None and deal.stage not in stages:
            return False
        if lo is not None or hi is not None:
            amount = to_number(deal.amount)
            if amount is None or (lo is not None and amount < lo) or (hi is not None and amount > hi):
                return False
        if recurring is not None and deal_is_recurring(deal, ctx.recurring_months) is not recurring:
            return False
        if span is not None:
            closed = to_epoch(deal.close_date)
            if closed is None or not ctx.now - span <= closed <= ctx.now:
                return False
        return True

    when_none = check(0)

    def count(ctx: Ctx) -> bool:
        deals = ctx.deals
        if not deals:
            return when_none
        n = 0
        for deal in deals:
            if one(deal, ctx):
                n += 1
        return check(n)
    return count


def compile_score(cond: s.ScoreCondition) -> Predicate:
    index = ("total", "fit", "engagement", "intent").index(cond.score)
    in_range = _range_pred(cond.gt, cond.gte, cond.lt, cond.lte)
    return lambda ctx: in_range(ctx.scores[index])


# ---------------------------------------------------------------------------------------------- the compiler


class Compiler:
    """Turns condition models into predicates, resolving `ref`s to the named conditions (each compiled once)."""

    def __init__(self, named: Mapping[str, s.AnyConditionModel], plan: Plan) -> None:
        self.named = named
        self.plan = plan
        self._done: dict[str, Predicate] = {}

    def is_static(self, cond: s.AnyConditionModel) -> bool:
        """Whether a condition's truth is the same at every instant: it reads neither the clock (events,
        activities, date windows, deals closed within a window) nor the scores. The engine evaluates such
        conditions once per contact when it replays the contact's history, instead of at every instant."""
        if isinstance(cond, s.FieldCondition):
            return not any(op in ("within_days", "older_than_days") for op in cond.operators)
        if isinstance(cond, s.DealsCondition):
            return not cond.deals.closed_within_days
        if isinstance(cond, s.RefCondition):
            return self.is_static(self.named[cond.ref])
        if isinstance(cond, s.NotCondition):
            return self.is_static(cond.not_)
        if isinstance(cond, s.AllCondition):
            return all(self.is_static(c) for c in cond.all)
        if isinstance(cond, s.AnyCondition):
            return all(self.is_static(c) for c in cond.any)
        return False  # events, activities, score: read the clock or the scores

    def compile(self, cond: s.AnyConditionModel) -> Predicate:
        if isinstance(cond, s.FieldCondition):
            return compile_field(cond)
        if isinstance(cond, s.EventsCondition):
            return compile_events(cond, self.plan)
        if isinstance(cond, s.ActivitiesCondition):
            return compile_activities(cond, self.plan)
        if isinstance(cond, s.DealsCondition):
            return compile_deals(cond)
        if isinstance(cond, s.ScoreCondition):
            return compile_score(cond)
        if isinstance(cond, s.RefCondition):
            if cond.ref not in self._done:
                self._done[cond.ref] = self.compile(self.named[cond.ref])  # cycles are rejected at load
            return self._done[cond.ref]
        if isinstance(cond, s.NotCondition):
            inner = self.compile(cond.not_)
            return lambda ctx: not inner(ctx)
        if isinstance(cond, s.AllCondition):
            parts = tuple(self.compile(c) for c in cond.all)
            if len(parts) == 1:
                return parts[0]
            if len(parts) == 2:
                a, b = parts
                return lambda ctx: a(ctx) and b(ctx)
            return lambda ctx: all(p(ctx) for p in parts)
        if isinstance(cond, s.AnyCondition):
            parts = tuple(self.compile(c) for c in cond.any)
            if len(parts) == 1:
                return parts[0]
            if len(parts) == 2:
                a, b = parts
                return lambda ctx: a(ctx) or b(ctx)
            return lambda ctx: any(p(ctx) for p in parts)
        raise TypeError(f"not a condition: {type(cond).__name__}")


__all__ = ["ANY_TYPE", "DAY", "TEXT_LIMIT", "Compiler", "Ctx", "Plan", "Predicate", "count_events",
           "deal_is_recurring", "getter", "is_empty", "to_bool", "to_epoch", "to_number"]
