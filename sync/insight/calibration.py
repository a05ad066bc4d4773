"""Calibration of the scoring weights against what really preceded won and lost deals: measured, proposed,
never applied (a person reviews the proposed file and publishes it).

The sample: contacts whose first deal was won in the period (won), contacts with a deal lost in the period
and none won (lost), and contacts active in the period with neither (open). A closed contact is evaluated as
it stood just before its deal closed (events, activities and deals dated later removed, the deciding deal
still open), so a rule is credited with what it saw before the outcome, not after; an open one as it is now.
Only the rules' public interface is used: `evaluate` and the rules a Decision says fired.

Per rule: how often it fired among won, lost and open contacts; its lift (win rate among closed contacts it
fired for / win rate of all closed contacts) with the Wilson 95 % interval of that win rate (the base rate
taken as known); the sample size. A rule with fewer than `min_sample` closed contacts on either side (fired,
not fired) gets no proposal and says so, as do rules that fire for nobody or for everybody.

A weight is proposed only where the evidence is clear (enough data, and the lift's interval excludes 1);
the other measured rules keep their points. The proposed weight follows the rule's log odds ratio of winning
(fired vs not fired, 0.5 added to each cell), scaled so that the rules re-weighted together keep the absolute
points they have now: the caps and the threshold keep their meaning and only the split between rules moves. A per-event rule scales its
points and its cap by the same factor. Precision and recall of "score at the threshold" on the closed
contacts are computed with the rules in force and with the proposal.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from sync.insight.period import Period
from sync.insight.proposal import RuleSpec, propose, read_rule_specs
from sync.insight.stats import wilson
from sync.model import Contact, DealStatus
from sync.rules.engine import CompiledRules, InvalidContact, rules_from_text
from sync.state.history import deal_closed_at

WON, LOST, OPEN = "won", "lost", "open"
DEFAULT_MIN_SAMPLE = 20
PROPOSED = "proposed"
KEPT = "kept: the lift's interval includes 1 (not told from chance)"
BEFORE = timedelta(seconds=1)  # a closed contact is evaluated this long before its deal closed


@dataclass(frozen=True, slots=True)
class Sampled:
    contact: Contact  # as it is now (what `rules diff` is run on)
    outcome: str
    at: datetime  # when it is evaluated


@dataclass
class RuleStats:
    spec: RuleSpec
    fired: Counter[str] = field(default_factory=Counter)
    points_given: list[float] = field(default_factory=list)
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    log_odds: float | None = None
    proposed: float | None = None
    proposed_cap: float | None = None
    verdict: str = ""

    def closed_fired(self) -> int:
        return self.fired[WON] + self.fired[LOST]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.spec.name, "dimension": self.spec.dimension, "per_event": self.spec.per_event,
                "fired": {k: self.fired[k] for k in (WON, LOST, OPEN)}, "sample": self.closed_fired(),
                "lift": self.lift, "lift_low": self.lift_low, "lift_high": self.lift_high,
                "log_odds": self.log_odds, "current": self.spec.points, "proposed": self.proposed,
                "proposed_cap": self.proposed_cap, "verdict": self.verdict}


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Score at the threshold as a prediction of a won deal, on the closed contacts."""

    predicted: int
    true_positive: int
    won: int

    @property
    def precision(self) -> float | None:
        return self.true_positive / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.true_positive / self.won if self.won else None

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "predicted": self.predicted,
                "true_positive": self.true_positive, "won": self.won}


@dataclass
class Calibration:
    period: Period
    rules_version: str
    threshold: int
    min_sample: int
    sample: Counter[str]
    rules: list[RuleStats]
    current: Accuracy
    proposed: Accuracy | None = None
    proposed_text: str | None = None
    proposed_version: str | None = None
    contacts: list[Sampled] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changes(self) -> dict[str, float]:
        return {r.spec.name: r.proposed for r in self.rules
                if r.proposed is not None and r.proposed != r.spec.points}

    def to_json(self) -> dict[str, Any]:
        accuracy = {"current rules": self.current.to_json()}
        if self.proposed is not None:
            accuracy["proposed rules"] = self.proposed.to_json()
        return {"period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat(),
                           "days": self.period.days},
                "rules_version": self.rules_version, "proposed_version": self.proposed_version,
                "threshold": self.threshold, "min_sample": self.min_sample,
                "sample": {k: self.sample[k] for k in (WON, LOST, OPEN)}, "skipped": len(self.skipped),
                "rules": [r.to_json() for r in self.rules], "precision_recall": accuracy}


def as_of(contact: Contact, at: datetime) -> Contact:
    """The contact as its CRM showed it at `at`: later events, activities and deals removed, deals that
    closed later still open."""
    deals = []
    for deal in contact.deals:
        if deal.created_at is not None and deal.created_at > at:
            continue
        closed = deal_closed_at(deal, at + timedelta(days=36500)) if deal.status != DealStatus.OPEN else None
        if closed is not None and closed > at:
            deal = msgspec.structs.replace(deal, status=DealStatus.OPEN)
        deals.append(deal)
    return msgspec.structs.replace(
        contact, events=[e for e in contact.events if e.at <= at],
        activities=[a for a in contact.activities if a.at <= at], deals=deals,
        updated_at=min(contact.updated_at, at) if contact.updated_at is not None else None, override_stage=None)


def sample(contacts: Iterable[Contact], period: Period) -> Iterable[Sampled]:
    """Each contact with its outcome and the instant to evaluate it at; contacts outside the period left out."""
    for contact in contacts:
        won = [deal_closed_at(d, period.end) for d in contact.deals if d.status == DealStatus.WON]
        lost = [deal_closed_at(d, period.end) for d in contact.deals if d.status == DealStatus.LOST]
        first_won = min((w for w in won if w is not None), default=None)
        if won:
            if first_won is not None and first_won in period:
                yield Sampled(contact, WON, first_won - BEFORE)
            continue
        last_lost = max((w for w in lost if w is not None), default=None)
        if lost:
            if last_lost is not None and last_lost in period:
                yield Sampled(contact, LOST, last_lost - BEFORE)
            continue
        active = contact.updated_at or contact.created_at
        if active is not None and active >= period.start:
            yield Sampled(contact, OPEN, period.end)


def _accuracy(scores: Iterable[tuple[str, int]], threshold: int) -> Accuracy:
    predicted = true_positive = won = 0
    for outcome, score in scores:
        if outcome == OPEN:
            continue
        won += outcome == WON
        if score >= threshold:
            predicted += 1
            true_positive += outcome == WON
    return Accuracy(predicted, true_positive, won)


def _measure(stats: RuleStats, sample_size: Counter[str], min_sample: int) -> None:
    won, lost = sample_size[WON], sample_size[LOST]
    fired_won, fired_lost = stats.fired[WON], stats.fired[LOST]
    everyone = sum(sample_size.values())
    fired_all = sum(stats.fired.values())
    closed = won + lost
    if fired_all == 0:
        stats.verdict = "fires for nobody"
        return
    if fired_all == everyone:
        stats.verdict = "fires for everybody"
    n_fired, n_not = fired_won + fired_lost, closed - fired_won - fired_lost
    if n_fired and won and lost:
        base = won / closed
        low, high = wilson(fired_won, n_fired)
        stats.lift, stats.lift_low, stats.lift_high = (fired_won / n_fired) / base, low / base, high / base
    if stats.verdict:
        return
    if n_not == 0:
        stats.verdict = "fires for every closed contact: nothing to compare with"
        return
    if n_fired == 0:
        stats.verdict = "fires for no closed contact"
        return
    if n_fired < min_sample or n_not < min_sample or not won or not lost:
        stats.verdict = (f"too little data: {n_fired} closed contacts fired, {n_not} did not "
                         f"(at least {min_sample} each needed)")
        return
    not_won, not_lost = won - fired_won, lost - fired_lost
    stats.log_odds = math.log(((fired_won + .5) * (not_lost + .5)) / ((fired_lost + .5) * (not_won + .5)))
    significant = stats.lift_low is not None and stats.lift_high is not None and (
        stats.lift_low > 1 or stats.lift_high < 1)
    stats.verdict = PROPOSED if significant else KEPT


def _effective(stats: RuleStats) -> float:
    """The points a rule gives when it fires: its points, or for a per-event rule the mean it gave."""
    if stats.spec.per_event and stats.points_given:
        return sum(stats.points_given) / len(stats.points_given)
    return stats.spec.points


def _round(value: float, like: float) -> float:
    value = max(-100.0, min(100.0, value))
    return float(round(value)) if float(like).is_integer() else round(value * 2) / 2


def _propose_weights(rules: list[RuleStats]) -> None:
    """Weights from the log odds ratios of the rules whose evidence is clear (the lift's interval excludes
    1), scaled so that together they keep the absolute points they have now; the others keep theirs."""
    group = [s for s in rules if s.log_odds is not None and s.verdict == PROPOSED]
    for stats in rules:
        if stats.log_odds is not None and stats not in group:
            stats.proposed = stats.spec.points  # measured, but the data does not tell it from chance
    budget = sum(abs(_effective(s)) for s in group)
    evidence = sum(abs(s.log_odds or 0.0) for s in group)
    for s in group:
        target = budget * (s.log_odds or 0.0) / evidence if evidence else _effective(s)
        if s.spec.per_event:
            ratio = target / _effective(s) if _effective(s) else 0.0
            s.proposed = _round(s.spec.points * ratio, s.spec.points)
            if s.spec.max_points is not None:
                s.proposed_cap = max(0.5, _round(abs(s.spec.max_points * ratio), s.spec.max_points))
        else:
            s.proposed = _round(target, s.spec.points)


def calibrate(rules: CompiledRules, rules_text: str, contacts: Iterable[Contact], period: Period, *,
              min_sample: int = DEFAULT_MIN_SAMPLE) -> Calibration:
    """Measure every scoring rule of `rules` (whose file reads `rules_text`) on `contacts` over `period`,
    and propose weights."""
    specs = read_rule_specs(rules_text)
    stats = {name: RuleStats(spec) for name, spec in specs.items()}
    sizes: Counter[str] = Counter()
    taken: list[Sampled] = []
    scores: list[tuple[str, int]] = []
    skipped: list[str] = []
    for item in sample(contacts, period):
        try:
            decision = rules.evaluate(as_of(item.contact, item.at), item.at)
        except InvalidContact as exc:
            skipped.append(str(exc))
            continue
        sizes[item.outcome] += 1
        taken.append(item)
        scores.append((item.outcome, decision.score))
        for fired in decision.fired:
            rule = stats.get(fired.name)
            if rule is not None and fired.points:
                rule.fired[item.outcome] += 1
                rule.points_given.append(fired.points)
    ordered = [stats[name] for name in specs]
    for rule in ordered:
        _measure(rule, sizes, min_sample)
    _propose_weights(ordered)
    result = Calibration(period=period, rules_version=rules.version, threshold=rules.threshold,
                         min_sample=min_sample, sample=sizes, rules=ordered,
                         current=_accuracy(scores, rules.threshold), contacts=taken, skipped=skipped)
    if result.changes:
        caps = {r.spec.name: r.proposed_cap for r in ordered if r.proposed_cap is not None}
        result.proposed_text = propose(rules_text, result.changes, caps)
        proposed_rules = rules_from_text(result.proposed_text, f"{rules.source} (proposed)")
        result.proposed_version = proposed_rules.version
        result.proposed = _accuracy(((item.outcome, proposed_rules.evaluate(as_of(item.contact, item.at),
                                                                            item.at).score)
                                     for item in taken), proposed_rules.threshold)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def render(result: Calibration) -> str:
    """The calibration as a reviewer reads it in a terminal."""
    size = result.sample
    lines = [f"calibration of rules {result.rules_version} over {result.period.days} days "
             f"({result.period.start:%Y-%m-%d} to {result.period.end:%Y-%m-%d}): {size[WON]} won, {size[LOST]} lost, "
             f"{size[OPEN]} still open" + (f", {len(result.skipped)} unreadable" if result.skipped else ""),
             "closed contacts are evaluated as they stood just before their deal closed; "
             f"no proposal below {result.min_sample} closed contacts on each side of a rule", ""]
    lines.append(f"{'rule':<26} {'dimension':<10} {'won':>5} {'lost':>5} {'open':>5} {'n':>5}  "
                 f"{'lift [95% CI]':<20} {'points':>7} {'->':>2} {'proposed':<8} verdict")
    for rule in result.rules:
        fired = rule.fired
        lift = ("-" if rule.lift is None else
                f"{rule.lift:.2f} [{rule.lift_low or 0:.2f}, {rule.lift_high or 0:.2f}]")
        proposed = "-" if rule.proposed is None else f"{rule.proposed:g}"
        if rule.proposed_cap is not None:
            proposed += f" (max {rule.proposed_cap:g})"
        lines.append(f"{rule.spec.name:<26} {rule.spec.dimension:<10} {fired[WON]:>5} {fired[LOST]:>5} "
                     f"{fired[OPEN]:>5} {rule.closed_fired():>5}  {lift:<20} {rule.spec.points:>7g} {'->':>2} "
                     f"{proposed:<8} {rule.verdict}")
    lines.append("")
    current, proposed = result.current, result.proposed
    text = (f"score >= {result.threshold} as a prediction of a won deal, on {current.won} won of "
            f"{size[WON] + size[LOST]} closed contacts: precision {_pct(current.precision)}, recall "
            f"{_pct(current.recall)}")
    if proposed is not None:
        text += (f"; with the proposal: precision {_pct(proposed.precision)}, recall {_pct(proposed.recall)} "
                 f"(rules version {result.proposed_version})")
    else:
        text += "; no weight to change, so no proposal"
    lines.append(text)
    return "\n".join(lines)


__all__ = ["DEFAULT_MIN_SAMPLE", "LOST", "OPEN", "WON", "Accuracy", "Calibration", "RuleStats", "Sampled", "as_of",
           "calibrate", "render", "sample"]
