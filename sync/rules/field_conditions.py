"""Field conditions compiled into predicates: one test on one contact attribute or custom field.

`{field: industry, in: [software, finance]}` becomes a closure that reads the
attribute and looks it up in a frozen set; the getter, the set and the
comparison are chosen once, when the rules load. Comparisons follow the type
of the expected value, because CRMs return everything as text. Text is
compared without case and without accents (`sync.rules.text.fold`) unless the
condition is `case_sensitive`; regular expressions run on RE2
(`sync.rules.patterns`), so no pattern can hang the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

from sync.rules import schema
from sync.rules.context import DAY, TEXT_LIMIT, Context, Predicate
from sync.rules.patterns import compile_search
from sync.rules.text import fold, fold_pattern
from sync.rules.timing import value_window, within_horizon
from sync.rules.values import is_empty, to_bool, to_epoch, to_number

UTC = timezone.utc
DERIVED_FIELDS = frozenset({"email_domain", "seniority"})  # read through the context, not straight off the contact


def _same(text: str) -> str:
    return text


def getter(name: str) -> Callable[[Context], Any]:
    """The function reading field `name` (already validated by the schema) from the context's contact."""
    if name.startswith("fields."):
        key = name[len("fields."):]
        return lambda context: context.fields.get(key)
    if name == "email_domain":
        def domain(context: Context) -> Any:
            email = context.contact.email
            if isinstance(email, str) and "@" in email:
                return email[-TEXT_LIMIT:].rpartition("@")[2].strip()
            return None
        return domain
    if name == "seniority":
        return Context.seniority
    read = attrgetter(name)
    return lambda context: read(context.contact)


class ValueSet:
    """Membership of a value in a set of expected scalars, each compared by its own type: text ignoring case
    and accents (unless case-sensitive), numbers numerically (numeric text accepted), booleans as
    true/false/yes/no."""

    __slots__ = ("texts", "numbers", "flags", "fold")

    def __init__(self, expected: list[Any], case_sensitive: bool) -> None:
        self.fold: Callable[[str], str] = _same if case_sensitive else fold
        self.texts = frozenset(self.fold(value.strip()) for value in expected if isinstance(value, str))
        self.numbers = frozenset(float(value) for value in expected
                                 if isinstance(value, (int, float)) and not isinstance(value, bool))
        self.flags = frozenset(value for value in expected if isinstance(value, bool))

    def holds_for_one(self, value: Any) -> bool:
        if isinstance(value, str):
            if self.texts and self.fold(value[:TEXT_LIMIT].strip()) in self.texts:
                return True
            if self.numbers:
                number = to_number(value)
                if number is not None and number in self.numbers:
                    return True
            if self.flags:
                flag = to_bool(value)
                return flag is not None and flag in self.flags
            return False
        if isinstance(value, bool):
            return value in self.flags or (bool(self.texts) and ("true" if value else "false") in self.texts)
        if isinstance(value, (int, float)):
            if value in self.numbers:
                return True
            if self.flags and value in (0, 1) and bool(value) in self.flags:
                return True
            return bool(self.texts) and self.fold(repr(value) if isinstance(value, float) else str(value)) in self.texts
        return False

    def __call__(self, value: Any) -> bool:
        if isinstance(value, (list, tuple, set)):
            return any(self.holds_for_one(item) for item in value)
        return self.holds_for_one(value)


def _text_test(condition: schema.FieldCondition) -> Callable[[Any], bool]:
    folding: Callable[[str], str] = _same if condition.case_sensitive else fold
    if condition.contains is not None:
        needle = folding(condition.contains)

        def contains(value: Any) -> bool:
            if isinstance(value, (list, tuple, set)):  # a multi-select: an item equal to the needle
                return any(isinstance(item, str) and folding(item[:TEXT_LIMIT].strip()) == needle
                           for item in value)
            return isinstance(value, str) and needle in folding(value[:TEXT_LIMIT])
        return contains
    assert condition.matches is not None
    found = text_search(condition.matches, condition.case_sensitive)

    def matches(value: Any) -> bool:
        if isinstance(value, str):
            return found(value)
        if isinstance(value, (list, tuple, set)):
            return any(isinstance(item, str) and found(item) for item in value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return found(str(value))
        return False
    return matches


def text_search(pattern: str, case_sensitive: bool = False) -> Callable[[str], bool]:
    """Whether `pattern` (RE2) is found in a text's first 4096 characters, without case and accents unless
    `case_sensitive` (the pattern's own letters are folded the same way)."""
    if case_sensitive:
        exact = compile_search(pattern, case_sensitive=True)
        return lambda text: exact(text[:TEXT_LIMIT])
    folded = compile_search(fold_pattern(pattern))
    return lambda text: folded(fold(text[:TEXT_LIMIT]))


def _buying_window(read: Callable[[Context], Any], months: float, key: Any) -> Predicate:
    """The value names a buying window that closes within `months` of the evaluation instant. The window a
    value names is read once per evaluation, the answer once per instant."""
    def names_window(context: Context) -> bool:
        value = read(context)
        if value is None or (isinstance(value, str) and not value.strip()):
            return False
        derived = context.derived
        if derived is None:
            derived = context.derived = {}
        window = derived[key] if key in derived else derived.setdefault(key, value_window(value))
        if window is None:
            return False
        if window[0] == "months":  # "within 6 months", "dans 3 mois": the same answer at every instant
            return bool(window[1] <= months)
        answer_key = (key, months, context.now)
        answer = derived.get(answer_key)
        if answer is None:
            answer = derived[answer_key] = within_horizon(window, datetime.fromtimestamp(context.now, UTC), months)
        return bool(answer)
    return names_window


def head_count_range_holds(span: tuple[int, int | None], in_range: Callable[[float], bool],
                           bounded_above: bool) -> bool:
    """Whether a head-count range (a CRM's "50-100" or "1000+", `Contact.company_size_range`) holds a number
    test: when every head count in it does. A range runs from its lowest number up to, not including, its
    highest, because CRMs' bands share their edges (HubSpot's 25-50 and 50-100: 50 is the higher band's);
    an open one ("1000+") has no end, so only a test without an upper bound can hold for all of it. A range
    that straddles the threshold does not hold the test (`not` of it then holds): it says too little."""
    low, high = span
    if high is None:
        return not bounded_above and in_range(low)
    return in_range(low) and in_range(max(low, high - 1))


def range_test(above: float | None, at_least: float | None, below: float | None, at_most: float | None
               ) -> Callable[[float], bool]:
    """The number test of `gt`, `gte`, `lt`, `lte` (at least one given)."""
    low = above if above is not None else at_least
    high = below if below is not None else at_most
    low_open, high_open = above is not None, below is not None
    if low is not None and high is not None:
        if low_open or high_open:
            return lambda number: ((number > low if low_open else number >= low)
                                   and (number < high if high_open else number <= high))
        return lambda number: low <= number <= high
    if low is not None:
        return (lambda number: number > low) if low_open else (lambda number: number >= low)
    assert high is not None
    return (lambda number: number < high) if high_open else (lambda number: number <= high)


def _text_in(name: str, expected: ValueSet) -> Predicate:
    """The common case, inlined: a text field against a set of texts, ignoring case. Reads the attribute or
    custom field directly (one call less per contact than going through `getter`)."""
    texts = expected.texts
    if name.startswith("fields."):
        key = name[len("fields."):]

        def custom(context: Context) -> bool:
            value = context.fields.get(key)
            if isinstance(value, str):
                return fold(value[:TEXT_LIMIT].strip()) in texts
            return expected(value)
        return custom
    if name in DERIVED_FIELDS:
        read = getter(name)

        def derived(context: Context) -> bool:
            value = read(context)
            if isinstance(value, str):
                return fold(value[:TEXT_LIMIT].strip()) in texts
            return expected(value)
        return derived
    attribute = attrgetter(name)

    def profile(context: Context) -> bool:
        value = attribute(context.contact)
        if isinstance(value, str):
            return fold(value[:TEXT_LIMIT].strip()) in texts
        return expected(value)
    return profile


def compile_field(condition: schema.FieldCondition, horizon_months: int = 12) -> Predicate:
    """The predicate of one field condition; `horizon_months` is what `buying_window: true` means."""
    read = getter(condition.field)
    operator = condition.operators[0]
    if operator == "buying_window":
        months = horizon_months if condition.buying_window is True else condition.buying_window
        return _buying_window(read, float(months or horizon_months), ("window", condition.field))
    if operator in ("eq", "ne", "in", "not_in"):
        values = ([condition.eq] if operator == "eq" else [condition.ne] if operator == "ne"
                  else list(condition.in_ or condition.not_in or []))
        expected = ValueSet(values, condition.case_sensitive)
        if not expected.numbers and not expected.flags and not condition.case_sensitive:
            positive: Predicate = _text_in(condition.field, expected)
        else:
            positive = lambda context: expected(read(context))
        if operator in ("ne", "not_in"):
            return lambda context: not positive(context)
        return positive
    if operator in ("contains", "matches"):
        test = _text_test(condition)
        return lambda context: test(read(context))
    if operator == "exists":
        want = bool(condition.exists)
        if condition.field == "company_size":  # a head count or a range of one
            return lambda context: (context.contact.company_size is not None
                                    or context.contact.company_size_range is not None) is want
        return lambda context: is_empty(read(context)) is not want
    if operator in ("within_days", "older_than_days"):
        span = (condition.within_days or condition.older_than_days or 0.0) * DAY
        if operator == "within_days":
            def within(context: Context) -> bool:
                when = to_epoch(read(context))
                return when is not None and context.now - span <= when <= context.now
            return within

        def older(context: Context) -> bool:
            when = to_epoch(read(context))
            return when is not None and when < context.now - span
        return older
    in_range = range_test(condition.gt, condition.gte, condition.lt, condition.lte)
    if condition.field in schema.NUMBER_FIELDS:
        attribute = attrgetter(condition.field)

        bounded_above = condition.lt is not None or condition.lte is not None
        ranged_size = condition.field == "company_size"  # the one number a CRM may hold as a range

        def number_attribute(context: Context) -> bool:  # a typed number attribute: no conversion usually
            value = attribute(context.contact)
            if value.__class__ is int or value.__class__ is float:
                return in_range(value)
            if value is None and ranged_size:
                span = context.contact.company_size_range
                return span is not None and head_count_range_holds(span, in_range, bounded_above)
            number = to_number(value)
            return number is not None and in_range(number)
        return number_attribute

    def ranged(context: Context) -> bool:
        number = to_number(read(context))
        return number is not None and in_range(number)
    return ranged


__all__ = ["DERIVED_FIELDS", "ValueSet", "compile_field", "getter", "head_count_range_holds", "range_test",
           "text_search"]
