"""The funnel over time, from the stage transitions: stage counts at the end of each week, conversion rates
over the period, and the median time contacts spent in each stage.

Each contact's transitions give its stage timeline; its stage at an instant is the last transition dated at
or before it (none: not yet in the funnel). Counts are kept per account and for all accounts together.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from sync.insight.period import Period, Week
from sync.insight.stats import median
from sync.state.history import FIRST_SEEN
from sync.state.reporting import Transition

STAGES = ("lead", "prospect", "client", "nurture", "disqualified")
ALL = "all"  # the key of every account together
# the conversions reported: (from, reached) where reaching a later stage of the funnel counts too
CONVERSIONS = (("lead", ("prospect", "client")), ("prospect", ("client",)))


@dataclass(frozen=True, slots=True)
class Conversion:
    source: str
    target: str
    entered: int  # contacts that were in `source` at some moment of the period
    converted: int  # of those, moved on to `target` (or beyond) within the period

    @property
    def rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None


@dataclass(frozen=True, slots=True)
class StageTime:
    stage: str
    stays: int  # completed stays that ended in the period (with dated ends)
    median_days: float | None


@dataclass
class Funnel:
    """The funnel of one account (or of all): counts per stage at the end of each week, conversions and
    times in stage over the period."""

    weekly: list[Counter[str]] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    times: list[StageTime] = field(default_factory=list)


def _timelines(transitions: Iterable[Transition]) -> Iterable[tuple[str, list[Transition]]]:
    """(account key, the contact's transitions in time order) per contact."""
    for (crm, account, _contact), items in groupby(transitions, key=lambda t: (t.crm, t.account, t.contact_id)):
        yield f"{crm}/{account}", sorted(items, key=lambda t: t.at)


def _stage_at(times: Sequence[datetime], stages: Sequence[str], when: datetime) -> str | None:
    index = bisect_right(times, when)
    return stages[index - 1] if index else None


def funnels(transitions: Iterable[Transition], period: Period) -> dict[str, Funnel]:
    """One `Funnel` per account key (`crm/account`) and one under `ALL`."""
    weeks = period.weeks()
    weekly: dict[str, list[Counter[str]]] = defaultdict(lambda: [Counter() for _ in weeks])
    entered: dict[str, Counter[str]] = defaultdict(Counter)
    converted: dict[str, Counter[str]] = defaultdict(Counter)
    stays: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, timeline in _timelines(transitions):
        times = [t.at for t in timeline]
        stages = [t.to_stage for t in timeline]
        for index, week in enumerate(weeks):
            stage = _stage_at(times, stages, week.end)
            if stage is not None:
                weekly[key][index][stage] += 1
                weekly[ALL][index][stage] += 1
        for source, reached in _conversions(timeline, period):
            for bucket in (key, ALL):
                entered[bucket][source] += 1
                converted[bucket][source] += reached
        for stage, days in _stays(timeline, period):
            stays[key][stage].append(days)
            stays[ALL][stage].append(days)
    out: dict[str, Funnel] = {}
    for key in sorted(set(weekly) | {ALL}):
        out[key] = Funnel(
            weekly=weekly[key] if key in weekly else [Counter() for _ in weeks],
            conversions=[Conversion(source, reached[0], entered[key][source], converted[key][source])
                         for source, reached in CONVERSIONS],
            times=[StageTime(stage, len(stays[key][stage]), median(stays[key][stage])) for stage in STAGES
                   if stage not in ("client", "disqualified")])
    return out


def _conversions(timeline: list[Transition], period: Period) -> Iterable[tuple[str, int]]:
    """(source stage, 1 if it moved on to a later funnel stage within the period else 0) for each source
    stage the contact was in at some moment of the period."""
    for source, reached in CONVERSIONS:
        was = False
        moved = 0
        for index, item in enumerate(timeline):
            if item.to_stage != source:
                continue
            left = timeline[index + 1].at if index + 1 < len(timeline) else None
            if item.at > period.end or (left is not None and left < period.start):
                continue  # this stay in `source` lies outside the period
            was = True
            later = [t for t in timeline[index + 1:] if t.to_stage in reached and t.at in period]
            if later:
                moved = 1
        if was:
            yield source, moved


def _stays(timeline: list[Transition], period: Period) -> Iterable[tuple[str, float]]:
    """(stage, days) of each stay that ended within the period, both ends dated (not `first_seen`)."""
    for current, following in zip(timeline, timeline[1:]):
        if following.at not in period or FIRST_SEEN in (current.basis, following.basis):
            continue
        yield current.to_stage, (following.at - current.at).total_seconds() / 86400


def week_labels(weeks: Sequence[Week]) -> list[str]:
    return [week.label for week in weeks]


__all__ = ["ALL", "CONVERSIONS", "STAGES", "Conversion", "Funnel", "StageTime", "funnels", "week_labels"]
