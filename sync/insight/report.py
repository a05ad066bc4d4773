"""The report's numbers, gathered from the state store in one place: `build_report` answers every question
the page asks, `sync.insight.page` only draws them. Tests check these numbers directly, and the browser
test checks that the page shows the same ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync.insight.funnel import ALL, STAGES, Funnel, funnels
from sync.insight.period import Period, Week
from sync.insight.reminders import reminder_work
from sync.insight.sla import Overdue, TouchTimes, owner_key, team_key, touch_times, weekly_outcomes
from sync.insight.sla import overdue as overdue_breaches
from sync.insight.stats import quantile
from sync.state import AccountRef, StateStore, reporting


@dataclass(frozen=True, slots=True)
class ScoreSpread:
    """The last decided scores of one stage: count and five-number summary."""

    stage: str
    scores: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.scores)

    def at(self, q: float) -> float | None:
        return quantile(self.scores, q)


@dataclass(frozen=True, slots=True)
class VersionUse:
    """One rules version: how many contacts it decided last, the stage moves it made in the period, and the
    first and last runs that used it."""

    version: str
    contacts_now: int
    moves: Counter[tuple[str | None, str]]
    first_run: datetime | None
    last_run: datetime | None


@dataclass(frozen=True, slots=True)
class VersionChange:
    crm: str
    account: str
    at: datetime
    before: str | None
    after: str


@dataclass
class ReportData:
    generated_at: datetime
    period: Period
    accounts: list[AccountRef]
    stages_now: dict[str, Counter[str]]  # account key (and ALL) -> stage -> managed contacts
    funnels: dict[str, Funnel]
    sla_weekly: list[Counter[str]]
    touch_by_owner: list[TouchTimes]
    touch_by_team: list[TouchTimes]
    breaches: list[Overdue]
    scores: list[ScoreSpread]
    threshold_hint: int | None
    versions: list[VersionUse]
    changes: list[VersionChange]
    calibration: reporting.StoredCalibration | None
    notes: list[str] = field(default_factory=list)
    # the SLA reminders' work in the period: account key (and ALL) -> (kind, outcome) -> rows
    reminders: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)

    @property
    def weeks(self) -> list[Week]:
        return self.period.weeks()

    @property
    def account_keys(self) -> list[str]:
        return [str(ref) for ref in self.accounts]


def _stages_now(store: StateStore, selected: Sequence[AccountRef] | None) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {ALL: Counter()}
    for ref, counts in reporting.stages_now(store, selected).items():
        out[str(ref)] = Counter(counts)
        out[ALL].update(counts)
    return out


def _scores(store: StateStore, selected: Sequence[AccountRef] | None) -> list[ScoreSpread]:
    merged: dict[str, list[int]] = defaultdict(list)
    for stages in reporting.scores_by_stage(store, selected).values():
        for stage, values in stages.items():
            merged[stage].extend(values)
    order = [*STAGES, *sorted(set(merged) - set(STAGES))]
    return [ScoreSpread(stage, tuple(sorted(merged[stage]))) for stage in order if merged.get(stage)]


def _versions(store: StateStore, selected: Sequence[AccountRef] | None, transitions: Sequence[reporting.Transition],
              runs: Sequence[reporting.RunVersion], period: Period) -> tuple[list[VersionUse], list[VersionChange]]:
    now_counts: Counter[str] = Counter()
    for counts in reporting.versions_now(store, selected).values():
        now_counts.update(counts)
    moves: dict[str, Counter[tuple[str | None, str]]] = defaultdict(Counter)
    for item in transitions:
        if item.decided_at in period:
            moves[item.rules_version][(item.from_stage, item.to_stage)] += 1
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    changes: list[VersionChange] = []
    previous: dict[tuple[str, str], str] = {}
    for run in runs:
        first.setdefault(run.rules_version, run.started_at)
        last[run.rules_version] = run.started_at
        key = (run.crm, run.account)
        before = previous.get(key)
        if before != run.rules_version and run.started_at in period:
            changes.append(VersionChange(run.crm, run.account, run.started_at, before, run.rules_version))
        previous[key] = run.rules_version
    names = sorted(set(now_counts) | set(moves) | set(first), key=lambda v: (first.get(v) or datetime.max.replace(
        tzinfo=period.end.tzinfo), v))
    uses = [VersionUse(v, now_counts.get(v, 0), moves.get(v, Counter()), first.get(v), last.get(v)) for v in names]
    return uses, changes


def build_report(store: StateStore, *, now: datetime, since: timedelta = timedelta(days=90),
                 accounts: Sequence[AccountRef] | None = None, teams: Mapping[str, str] | None = None,
                 threshold: int | None = None) -> ReportData:
    """Everything the report shows for `accounts` (None: all) over the `since` before `now`."""
    period = Period.since(since, now)
    selected = list(accounts) if accounts is not None else None
    known = selected if selected is not None else reporting.accounts(store)
    transitions = reporting.transitions(store, selected, until=now)
    handoffs = reporting.handoffs(store, selected)
    runs = reporting.run_versions(store, selected, since=period.start)
    versions, changes = _versions(store, selected, transitions, runs, period)
    notes = []
    if not transitions:
        notes.append("No stage history yet: it is recorded from the first sync after this version of crmsync.")
    return ReportData(
        generated_at=now, period=period, accounts=known, stages_now=_stages_now(store, selected),
        funnels=funnels(transitions, period), sla_weekly=weekly_outcomes(handoffs, period),
        touch_by_owner=touch_times(handoffs, period, owner_key),
        touch_by_team=touch_times(handoffs, period, team_key(teams)),
        breaches=overdue_breaches(reporting.open_breaches(store, selected), now),
        scores=_scores(store, selected), threshold_hint=threshold, versions=versions, changes=changes,
        calibration=reporting.latest_calibration(store), notes=notes,
        reminders=reminder_work(store, period, selected))


__all__ = ["ReportData", "ScoreSpread", "VersionChange", "VersionUse", "build_report"]
