"""SLA performance from the recorded hand-offs: outcomes per week, time to first touch per owner and per
team, and the open breaches with how long they are overdue.

A hand-off counts in the week its due time falls in (that is when it was met, late or breached). Time to
first touch is wall-clock time from the hand-off to the first sales touch, for the touches made within the
period. A team is the CRM account the owner works in, unless a mapping owner -> team is given.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.insight.period import Period
from sync.insight.stats import quantile
from sync.state.reporting import Handoff, OpenBreach

OUTCOMES = ("met", "late", "breached", "running")


@dataclass(frozen=True, slots=True)
class TouchTimes:
    """Time from hand-off to first touch of one owner or team."""

    name: str
    touched: int
    p50_hours: float | None
    p95_hours: float | None
    met: int  # of the touched, within the SLA
    late: int


@dataclass(frozen=True, slots=True)
class Overdue:
    breach: OpenBreach
    overdue: timedelta

    @property
    def text(self) -> str:
        return overdue_text(self.overdue)


def overdue_text(delta: timedelta) -> str:
    """`3 d 4 h` (or `5 h` under a day): how a breach's lateness reads in a table."""
    hours = max(0, int(delta.total_seconds() // 3600))
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h"


def weekly_outcomes(handoffs: Iterable[Handoff], period: Period) -> list[Counter[str]]:
    weeks = period.weeks()
    out: list[Counter[str]] = [Counter() for _ in weeks]
    for handoff in handoffs:
        if handoff.due_at is None or handoff.due_at not in period:
            continue
        for index, week in enumerate(weeks):
            if handoff.due_at in week or (index == len(weeks) - 1 and handoff.due_at == week.end):
                out[index][handoff.status] += 1
                break
    return out


def owner_key(handoff: Handoff) -> str:
    return f"{handoff.crm}/{handoff.account}/{handoff.owner_id or 'no owner'}"


def account_team(handoff: Handoff) -> str:
    return f"{handoff.crm}/{handoff.account}"


def touch_times(handoffs: Iterable[Handoff], period: Period, key: Callable[[Handoff], str]) -> list[TouchTimes]:
    """Per `key` (owner, team), the P50 and P95 hours to first touch of the hand-offs touched in the period;
    slowest P95 first."""
    hours: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for handoff in handoffs:
        if handoff.touched_at is None or handoff.touched_at not in period:
            continue
        name = key(handoff)
        hours[name].append(max(0.0, (handoff.touched_at - handoff.started_at).total_seconds() / 3600))
        statuses[name][handoff.status] += 1
    rows = [TouchTimes(name, len(values), quantile(values, 0.5), quantile(values, 0.95), statuses[name]["met"],
                       statuses[name]["late"]) for name, values in hours.items()]
    return sorted(rows, key=lambda row: (-(row.p95_hours or 0.0), row.name))


def team_key(teams: Mapping[str, str] | None) -> Callable[[Handoff], str]:
    """A team per hand-off: `teams` maps an owner id (or `crm/account/owner`) to a team name; owners it does
    not name are in their CRM account's team."""
    if not teams:
        return account_team
    mapping = dict(teams)

    def key(handoff: Handoff) -> str:
        owner = handoff.owner_id or ""
        return mapping.get(owner_key(handoff)) or mapping.get(owner) or account_team(handoff)
    return key


def overdue(breaches: Sequence[OpenBreach], now: datetime) -> list[Overdue]:
    """Open breaches, oldest due time first, each with how long it is overdue at `now`."""
    dated = [Overdue(b, now - b.due_at) for b in breaches if b.due_at is not None]
    undated = [Overdue(b, timedelta(0)) for b in breaches if b.due_at is None]
    return sorted(dated, key=lambda o: -o.overdue) + undated


__all__ = ["OUTCOMES", "Overdue", "TouchTimes", "account_team", "overdue", "overdue_text", "owner_key",
           "team_key", "touch_times", "weekly_outcomes"]
