"""Scoring rules compiled into scorers: fixed points when a condition holds, or decayed points per event.

Each rule yields its points for one contact (0 when it does not fire). The
engine sums them per dimension (that sum is the explanation), then clamps each
dimension to 0..cap; with caps adding up to 100, the total reads out of 100.
Decay is a precomputed constant: a half-life becomes `ln 2 / seconds` and each
event weighs `exp(-age * rate)`; step windows become sorted edges for a bisection.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from sync.rules import schema
from sync.rules.conditions import Compiler
from sync.rules.context import DAY, Context, Plan, Predicate
from sync.rules.count_conditions import as_list
from sync.rules.decision import FiredRule

DIMENSIONS = ("fit", "engagement", "intent")

Weight = Callable[[float], float]  # age in seconds -> factor in 0..1


def round2(value: float) -> float:
    """Exactly `round(value, 2)`, without its decimal conversion in the usual case.

    round(value, 2) is the double nearest to n/100, n the exact value*100 rounded half to even; n/100.0 is
    that double. `scaled` = value*100 is within 1e-10 of the exact product here (|scaled| < 1e6), so away
    from a half (1e-9) rounding `scaled` rounds the exact product. Halves, huge values and zeros (the sign
    of -0.0) take round()."""
    scaled = value * 100.0
    if -1e6 < scaled < 1e6:
        base = math.floor(scaled)
        fraction = scaled - base
        if abs(fraction - 0.5) > 1e-9:
            hundredths = base + 1 if fraction > 0.5 else base
            if hundredths != 0:
                return hundredths / 100.0
    return round(value, 2)


def decay_weight(decay: schema.Decay | None) -> Weight | None:
    """The age -> factor function of a dimension's decay, or None when events count in full."""
    if decay is None:
        return None
    if decay.half_life_days is not None:
        rate = math.log(2) / (decay.half_life_days * DAY)
        exp = math.exp
        return lambda age: exp(-age * rate)
    windows = decay.windows or []
    edges = [window.within_days * DAY for window in windows]
    factors = [window.factor for window in windows] + [0.0]
    return lambda age: factors[bisect_left(edges, age)]


@dataclass(frozen=True, slots=True)
class Scorer:
    """One compiled rule. `fixed` is set for `when` rules (its FiredRule is built once and shared: it is
    immutable); `per_event` computes the points otherwise."""

    dimension: int
    name: str
    points: float
    when: Predicate | None
    fixed: FiredRule | None
    per_event: Callable[[Context], float] | None


def _per_event(rule: schema.ScoringRule, decay: schema.Decay | None, plan: Plan) -> Callable[[Context], float]:
    """Points for each matching event in the window, each weighted by its age. The half-life case, the
    one the default rules use, is inlined: one exp per event and no call."""
    assert rule.per_event is not None
    query = rule.per_event
    keys = plan.event_keys(as_list(query.type), as_list(query.source))
    span = query.within_days * DAY if query.within_days else None
    points = rule.points
    limit = rule.max_points if rule.max_points is not None else math.inf
    weight = decay_weight(decay)

    def clamp(value: float) -> float:
        if value > limit:
            value = limit
        elif value < -limit:
            value = -limit
        return round2(value)

    half_life = decay.half_life_days if decay is not None else None
    if half_life is not None:
        rate = math.log(2) / (half_life * DAY)
        exp = math.exp

        if len(keys) == 1:
            key = keys[0]
            start = span if span is not None else math.inf

            def decayed_one(context: Context) -> float:  # one bucket (one type): the shape of most rules
                times = context.event_times.get(key)
                if not times:
                    return 0.0
                now, total = context.now, 0.0
                count = len(times)
                end = count if times[-1] <= now else bisect_right(times, now)
                begin = bisect_left(times, now - start)
                for at in (times if begin == 0 and end == count else times[begin:end]):
                    total += exp((at - now) * rate)
                return clamp(points * total) if total else 0.0
            return decayed_one

        def decayed(context: Context) -> float:
            now, buckets, total = context.now, context.event_times, 0.0
            for key in keys:
                times = buckets.get(key)
                if times:
                    # the usual case, nothing after now: no bisection for the upper bound
                    end = len(times) if times[-1] <= now else bisect_right(times, now)
                    begin = bisect_left(times, now - span) if span is not None else 0
                    for at in (times if begin == 0 and end == len(times) else times[begin:end]):
                        total += exp((at - now) * rate)
            return clamp(points * total) if total else 0.0
        return decayed

    def weighted(context: Context) -> float:
        now, buckets, total = context.now, context.event_times, 0.0
        for key in keys:
            times = buckets.get(key)
            if times:
                end = bisect_right(times, now)
                begin = bisect_left(times, now - span) if span is not None else 0
                if weight is None:
                    total += end - begin
                else:
                    for index in range(begin, end):
                        total += weight(now - times[index])
        return clamp(points * total) if total else 0.0
    return weighted


def compile_scoring(scoring: schema.Scoring, compiler: Compiler) -> tuple[Scorer, ...]:
    out = []
    for index, dimension in enumerate(DIMENSIONS):
        spec: schema.Dimension = getattr(scoring, dimension)
        for rule in spec.rules:
            if rule.when is not None:
                out.append(Scorer(index, rule.name, round(rule.points, 2), compiler.compile(rule.when),
                                  FiredRule(dimension, rule.name, round(rule.points, 2)), None))
            else:
                out.append(Scorer(index, rule.name, rule.points, None, None,
                                  _per_event(rule, spec.decay, compiler.plan)))
    return tuple(out)


__all__ = ["DIMENSIONS", "Scorer", "compile_scoring", "decay_weight"]
