"""Compiles condition models into plain closures over an evaluation context.

Each condition becomes one `Predicate` (a function of `Context` returning
bool), built once when the rules load: regexes compiled, value sets frozen,
windows turned into seconds, the field getter chosen. Per contact there is no
YAML, no pydantic and no dispatch on the condition's kind, only the closures.
The field tests live in `field_conditions`, the counts in `count_conditions`;
this module combines them (all / any / not) and resolves named conditions,
whose answers an evaluation remembers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from sync.rules import schema
from sync.rules.context import Context, Plan, Predicate
from sync.rules.count_conditions import compile_activities, compile_deals, compile_events, compile_score
from sync.rules.field_conditions import compile_field
from sync.rules.references import nodes


class Compiler:
    """Turns condition models into predicates, resolving `ref`s to the named conditions (each compiled once)."""

    def __init__(self, named: Mapping[str, schema.AnyConditionModel], plan: Plan, horizon_months: int = 12,
                 shared: frozenset[str] = frozenset()) -> None:
        """`shared`: the named conditions used in more than one place, whose answers an evaluation remembers
        (for one used once, remembering costs more than it saves)."""
        self.named = named
        self.plan = plan
        self.horizon_months = horizon_months  # what `buying_window: true` means
        self.shared = shared
        self._compiled: dict[str, Predicate] = {}
        self._static: dict[str, bool] = {}

    def is_static(self, condition: schema.AnyConditionModel) -> bool:
        """Whether a condition's truth is the same at every instant: it reads neither the clock (events,
        activities, date and buying windows, deals closed within a window) nor the scores. The engine evaluates such
        conditions once per contact when it replays the contact's history, instead of at every instant."""
        if isinstance(condition, schema.FieldCondition):
            return not any(operator in schema.CLOCK_OPS for operator in condition.operators)
        if isinstance(condition, schema.DealsCondition):
            return not condition.deals.closed_within_days
        if isinstance(condition, schema.RefCondition):
            known = self._static.get(condition.ref)
            if known is None:
                known = self._static[condition.ref] = self.is_static(self.named[condition.ref])
            return known
        if isinstance(condition, schema.NotCondition):
            return self.is_static(condition.not_)
        if isinstance(condition, schema.AllCondition):
            return all(self.is_static(part) for part in condition.all)
        if isinstance(condition, schema.AnyCondition):
            return all(self.is_static(part) for part in condition.any)
        return False  # events, activities, score: read the clock or the scores

    def compile(self, condition: schema.AnyConditionModel) -> Predicate:
        if isinstance(condition, schema.FieldCondition):
            return compile_field(condition, self.horizon_months)
        if isinstance(condition, schema.EventsCondition):
            return compile_events(condition, self.plan)
        if isinstance(condition, schema.ActivitiesCondition):
            return compile_activities(condition, self.plan)
        if isinstance(condition, schema.DealsCondition):
            return compile_deals(condition)
        if isinstance(condition, schema.ScoreCondition):
            return compile_score(condition)
        if isinstance(condition, schema.RefCondition):
            compiled = self._compiled.get(condition.ref)
            if compiled is None:  # cycles are rejected at load
                named = self.named[condition.ref]
                compiled = self.compile(named)
                if condition.ref in self.shared:
                    compiled = _remembered(condition.ref, compiled, self.is_static(named))
                self._compiled[condition.ref] = compiled
            return compiled
        if isinstance(condition, schema.NotCondition):
            inner = self.compile(condition.not_)
            return lambda context: not inner(context)
        if isinstance(condition, schema.AllCondition):
            return _all(tuple(self.compile(part) for part in condition.all))
        if isinstance(condition, schema.AnyCondition):
            return _any(tuple(self.compile(part) for part in condition.any))
        raise TypeError(f"not a condition: {type(condition).__name__}")


def shared_references(conditions: Iterable[schema.AnyConditionModel]) -> frozenset[str]:
    """The named conditions referred to more than once in these condition trees (every use counted)."""
    uses: Counter[str] = Counter()
    for condition in conditions:
        uses.update(node.ref for node in nodes(condition) if isinstance(node, schema.RefCondition))
    return frozenset(name for name, count in uses.items() if count > 1)


def _remembered(name: str, test: Predicate, static: bool) -> Predicate:
    """A named condition used in several places answers once per evaluation (per instant, unless it reads
    neither the clock nor the scores): the shipped rules use `decision_role` in a fit rule and in BANT."""
    static_key = ("ref", name)

    def remembered(context: Context) -> bool:
        derived = context.derived
        if derived is None:
            derived = context.derived = {}
        key = static_key if static else ("ref", name, context.now)
        answer = derived.get(key)
        if answer is None:
            answer = derived[key] = test(context)
        return bool(answer)
    return remembered


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda context: first(context) and second(context)
    return lambda context: all(part(context) for part in parts)


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda context: first(context) or second(context)
    return lambda context: any(part(context) for part in parts)


__all__ = ["Compiler", "Context", "Plan", "Predicate", "shared_references"]
