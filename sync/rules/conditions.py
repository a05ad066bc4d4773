"""Compiles condition models into plain closures over an evaluation context.

Each condition becomes one `Predicate` (a function of `Context` returning
bool), built once when the rules load: regexes compiled, value sets frozen,
windows turned into seconds, the field getter chosen. Per contact there is no
YAML, no pydantic and no dispatch on the condition's kind, only the closures.
The field tests live in `field_conditions`, the counts in `count_conditions`;
this module combines them (all / any / not) and resolves named conditions.
"""

from __future__ import annotations

from collections.abc import Mapping

from sync.rules import schema
from sync.rules.context import Context, Plan, Predicate
from sync.rules.count_conditions import compile_activities, compile_deals, compile_events, compile_score
from sync.rules.field_conditions import compile_field


class Compiler:
    """Turns condition models into predicates, resolving `ref`s to the named conditions (each compiled once)."""

    def __init__(self, named: Mapping[str, schema.AnyConditionModel], plan: Plan, horizon_months: int = 12) -> None:
        self.named = named
        self.plan = plan
        self.horizon_months = horizon_months  # what `buying_window: true` means
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
                compiled = self._compiled[condition.ref] = self.compile(self.named[condition.ref])
            return compiled
        if isinstance(condition, schema.NotCondition):
            inner = self.compile(condition.not_)
            return lambda context: not inner(context)
        if isinstance(condition, schema.AllCondition):
            return _all(tuple(self.compile(part) for part in condition.all))
        if isinstance(condition, schema.AnyCondition):
            return _any(tuple(self.compile(part) for part in condition.any))
        raise TypeError(f"not a condition: {type(condition).__name__}")


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


__all__ = ["Compiler", "Context", "Plan", "Predicate"]
