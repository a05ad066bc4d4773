"""Scores and qualification of one contact: the scoring rules summed per dimension, capped, and tested
against the threshold and the framework, now or as of an earlier instant.

The same sums serve the decision and the hand-off search, which asks "did this
contact qualify as of then?" at a few instants of its history. Rules that read
neither the clock nor the scores (the profile ones) give the same answer at
every instant: the search evaluates them once per contact (`static_values`).
"""

from __future__ import annotations

from typing import Any

from sync.rules.context import Context
from sync.rules.decision import FiredRule
from sync.rules.qualification import CompiledFramework
from sync.rules.scoring import DIMENSIONS, Scorer

Scores = tuple[int, int, int, int]  # total, fit, engagement, intent


class Assessor:
    """Scores, caps and qualifies for one rules version. Stateless between calls: safe to share."""

    def __init__(self, scorers: tuple[Scorer, ...], caps: tuple[float, float, float], threshold: int,
                 framework: CompiledFramework, qualify_on: str, static_rules: tuple[bool, ...],
                 static_criteria: tuple[bool, ...], criteria_read_scores: bool = True) -> None:
        """`criteria_read_scores`: whether a criterion of the framework tests a score; when none does, a replay
        asks the framework first and sums the scores only when the answer still depends on them."""
        self.caps = caps
        self.framework_first = not criteria_read_scores and qualify_on != "score"
        self.threshold = threshold
        self.framework = framework
        self.qualify_on = qualify_on
        self.static_rules = static_rules
        self.static_criteria = static_criteria
        # (dimension, when, its FiredRule, None, points) -- or for per_event rules
        # (dimension, None, dimension name, per_event, rule name): tuples unpack faster than attributes
        self._flat: tuple[tuple[Any, ...], ...] = tuple(
            (scorer.dimension, scorer.when, scorer.fixed, None, scorer.points) if scorer.when is not None
            else (scorer.dimension, None, DIMENSIONS[scorer.dimension], scorer.per_event, scorer.name)
            for scorer in scorers)

    def raw_scores(self, context: Context, fired: list[FiredRule] | None) -> tuple[float, float, float]:
        """Uncapped dimension sums; appends what fired to `fired` when given."""
        sums = [0.0, 0.0, 0.0]
        if fired is None:
            for dimension, when, _, per_event, points in self._flat:
                if when is not None:
                    if when(context):
                        sums[dimension] += points
                else:
                    value = per_event(context)
                    if value:
                        sums[dimension] += value
            return sums[0], sums[1], sums[2]
        append = fired.append
        for dimension, when, fixed, per_event, points in self._flat:
            if when is not None:
                if when(context):
                    sums[dimension] += points
                    append(fixed)
            else:
                value = per_event(context)
                if value:
                    sums[dimension] += value
                    append(FiredRule(fixed, points, value))
        return sums[0], sums[1], sums[2]

    def capped(self, sums: tuple[float, float, float]) -> Scores:
        """Each dimension clamped to 0..cap and rounded (half to even); the total is their sum."""
        fit_cap, engagement_cap, intent_cap = self.caps
        fit = round(min(max(sums[0], 0.0), fit_cap))
        engagement = round(min(max(sums[1], 0.0), engagement_cap))
        intent = round(min(max(sums[2], 0.0), intent_cap))
        return fit + engagement + intent, fit, engagement, intent

    def qualifies(self, total: int, framework_met: bool) -> bool:
        """The rules' `prospect.qualify_on`."""
        on = self.qualify_on
        if on == "score_or_framework":
            return total >= self.threshold or framework_met
        if on == "score":
            return total >= self.threshold
        if on == "framework":
            return framework_met
        return total >= self.threshold and framework_met

    def static_values(self, context: Context) -> tuple[list[Any], list[Any]]:
        """The values of the static `when` rules and criteria for this contact (None for the others)."""
        rules = [when(context) if static else None
                 for (_, when, _, _, _), static in zip(self._flat, self.static_rules, strict=True)]
        criteria = [test(context) if static else None
                    for (_, test), static in zip(self.framework.criteria, self.static_criteria, strict=True)]
        return rules, criteria

    def known_from(self, fired: list[FiredRule], met: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
        """`static_values`, read from the evaluation at `now` instead of evaluated again: the `when` rules that
        fired (their shared FiredRule) and the criteria met. Static values are the same at every instant."""
        fired_ids = {id(rule) for rule in fired}
        rules = [id(fixed) in fired_ids if static else None
                 for (_, _, fixed, _, _), static in zip(self._flat, self.static_rules, strict=True)]
        criteria = [name in met if static else None
                    for (name, _), static in zip(self.framework.criteria, self.static_criteria, strict=True)]
        return rules, criteria

    def _replayed_scores(self, context: Context, known: list[Any]) -> tuple[float, float, float]:
        """`raw_scores(context, None)`, the static rules read from `known`: same sums, same order."""
        sums = [0.0, 0.0, 0.0]
        static = self.static_rules
        for index, (dimension, when, _, per_event, points) in enumerate(self._flat):
            if when is not None:
                if known[index] if static[index] else when(context):
                    sums[dimension] += points
            else:
                value = per_event(context)
                if value:
                    sums[dimension] += value
        return sums[0], sums[1], sums[2]

    def qualifies_at(self, context: Context, at: float, known: tuple[list[Any], list[Any]]) -> bool:
        """Whether the contact qualified as of `at`, seeing only what was dated at or before it."""
        saved_now, saved_scores = context.now, context.scores
        context.now = at
        try:
            if self.framework_first:  # the same answer as `qualifies`, often without summing the scores
                on = self.qualify_on
                met = self.framework.is_met_with(context, self.static_criteria, known[1])
                if on == "framework" or met is (on == "score_or_framework"):
                    return met
                return self.capped(self._replayed_scores(context, known[0]))[0] >= self.threshold
            total, fit, engagement, intent = self.capped(self._replayed_scores(context, known[0]))
            context.scores = (float(total), float(fit), float(engagement), float(intent))
            return self.qualifies(total, self.framework.is_met_with(context, self.static_criteria, known[1]))
        finally:
            context.now, context.scores = saved_now, saved_scores


__all__ = ["Assessor", "Scores"]
