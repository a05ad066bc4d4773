"""Scoring rules compiled into scorers: fixed points when a condition holds, or decayed points per event.

Each rule yields its points for one contact (0 when it does not fire). The
engine sums them per dimension (that sum is the explanation), then clamps each
dimension to 0..cap; with caps adding up to 100, the total reads out of 100.
Decay is a precomputed constant: a half-life becomes `ln 2 / seconds` and each
event weighs `exp(-age * k)`; step windows become sorted edges for a bisection.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from sync.rules import schema as s
from sync.rules.conditions import DAY, Compiler, Ctx, Plan, Predicate
from sync.rules.decision import FiredRule

DIMENSIONS = ("fit", "engagement", "intent")

Weight = Callable[[float], float]  # age in seconds -> factor in 0..1


def round2(value: float) -> float:
    """Exactly `round(value, 2)`, without its decimal conversion in the usual case.

    round(x, 2) is the double nearest to k/100, k the exact x*100 rounded half to even; k/100.0 is that
    double. y = x*100 is within 1e-10 of the exact product here (|y| < 1e6), so away from a half (1e-9)
    rounding y rounds the exact product. Halves, huge values and zeros (the sign of -0.0) take round()."""
    y = value * 100.0
    if -1e6 < y < 1e6:
        base = math.floor(y)
        frac = y - base
        if abs(frac - 0.5) > 1e-9:
            k = base + 1 if frac > 0.5 else base
            if k != 0:
                return k / 100.0
    return round(value, 2)


def decay_weight(decay: s.Decay | None) -> Weight | None:
    """The age -> factor function of a dimension's decay, or None when events count in full."""
    if decay is None:
        return None
    if decay.half_life_days is not None:
        k = math.log(2) / (decay.half_life_days * DAY)
        exp = math.exp
        return lambda age: exp(-age * k)
    windows = decay.windows or []
    edges = [w.within_days * DAY for w in windows]
    factors = [w.factor for w in windows] + [0.0]
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
    per_event: Callable[[Ctx], float] | None


def _per_event(rule: s.ScoringRule, decay: s.Decay | None, plan: Plan) -> Callable[[Ctx], float]:
    """Points for each matching event in the window, each weighted by its age. The half-life case, the
    one the default rules use, is inlined: one exp per event and no call."""
    assert rule.per_event is not None
    q = rule.per_event
    keys = plan.event_keys(q.type if isinstance(q.type, list) else [q.type],
                           None if q.source is None else q.source if isinstance(q.source, list) else [q.source])
    span = q.within_days * DAY if q.within_days else None
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
        k = math.log(2) / (half_life * DAY)
        exp = math.exp

        if len(keys) == 1:
            key = keys[0]
            start = span if span is not None else math.inf

            def decayed_one(ctx: Ctx) -> float:  # one bucket (one type): the shape of most rules
                times = ctx.ev.get(key)
                if not times:
                    return 0.0
                now, total = ctx.now, 0.0
                n = len(times)
                hi = n if times[-1] <= now else bisect_right(times, now)
                lo = bisect_left(times, now - start)
                for t in (times if lo == 0 and hi == n else times[lo:hi]):
                    total += exp((t - now) * k)
                return clamp(points * total) if total else 0.0
            return decayed_one

        def decayed(ctx: Ctx) -> float:
            now, ev, total = ctx.now, ctx.ev, 0.0
            for key in keys:
                times = ev.get(key)
                if times:
                    # the usual case, nothing after now: no bisection for the upper bound
                    hi = len(times) if times[-1] <= now else bisect_right(times, now)
                    lo = bisect_left(times, now - span) if span is not None else 0
                    for t in (times if lo == 0 and hi == len(times) else times[lo:hi]):
                        total += exp((t - now) * k)
            return clamp(points * total) if total else 0.0
        return decayed

    def weighted(ctx: Ctx) -> float:
        now, ev, total = ctx.now, ctx.ev, 0.0
        for key in keys:
            times = ev.get(key)
            if times:
                hi = bisect_right(times, now)
                lo = bisect_left(times, now - span) if span is not None else 0
                if weight is None:
                    total += hi - lo
                else:
                    for i in range(lo, hi):
                        total += weight(now - times[i])
        return clamp(points * total) if total else 0.0
    return weighted


def compile_scoring(scoring: s.Scoring, compiler: Compiler) -> tuple[Scorer, ...]:
    out = []
    for index, dim in enumerate(DIMENSIONS):
        spec: s.Dimension = getattr(scoring, dim)
        for rule in spec.rules:
            if rule.when is not None:
                out.append(Scorer(index, rule.name, round(rule.points, 2), compiler.compile(rule.when),
                                  FiredRule(dim, rule.name, round(rule.points, 2)), None))
            else:
                out.append(Scorer(index, rule.name, rule.points, None, None,
                                  _per_event(rule, spec.decay, compiler.plan)))
    return tuple(out)


__all__ = ["DIMENSIONS", "Scorer", "compile_scoring", "decay_weight"]
