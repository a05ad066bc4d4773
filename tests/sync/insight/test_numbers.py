"""The report's numbers from hand-made histories: funnel per week, conversions, time in stage, SLA per
week, time to first touch, overdue breaches; and the small statistics under them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.insight.funnel import ALL, funnels
from sync.insight.period import Period, parse_span
from sync.insight.sla import overdue, overdue_text, owner_key, team_key, touch_times, weekly_outcomes
from sync.insight.stats import quantile, wilson
from sync.state.history import DATA, FIRST_SEEN, OBSERVED
from sync.state.reporting import Handoff, OpenBreach, Transition

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)  # a Monday
PERIOD = Period.since(timedelta(days=28), NOW)


def moves(contact, *path, crm="hubspot"):
    """Transitions of one contact: (stage, days before NOW, basis) in order."""
    out, previous = [], None
    for stage, days_ago, basis in path:
        out.append(Transition(crm, "main", contact, previous, stage, NOW - timedelta(days=days_ago), basis, "v1",
                              NOW - timedelta(days=days_ago)))
        previous = stage
    return out


def test_the_period_has_its_weeks_cut_at_both_ends():
    weeks = PERIOD.weeks()
    assert weeks[0].start == PERIOD.start and weeks[-1].end == NOW
    assert all(w.start.weekday() == 0 for w in weeks[1:]) and len(weeks) == 5
    assert parse_span("90d") == timedelta(days=90) and parse_span("2w") == timedelta(days=14)
    with pytest.raises(ValueError, match="90d"):
        parse_span("ninety")


def test_the_funnel_counts_each_contact_in_its_stage_at_each_week_end():
    history = sorted(moves("a", ("lead", 40, DATA), ("prospect", 10, DATA), ("client", 3, OBSERVED))
                     + moves("b", ("lead", 20, DATA))
                     + moves("c", ("disqualified", 5, DATA), crm="pipedrive"),
                     key=lambda t: (t.crm, t.account, t.contact_id))
    result = funnels(history, PERIOD)
    weekly = [dict(week) for week in result[ALL].weekly]
    assert weekly[0] == {"lead": 1}  # the period starts 28 days ago: only a, a lead
    assert weekly[-1] == {"client": 1, "lead": 1, "disqualified": 1}
    assert sum(result["pipedrive/main"].weekly[-1].values()) == 1


def test_conversions_and_time_in_stage_count_what_happened_in_the_period():
    history = (moves("a", ("lead", 40, DATA), ("prospect", 10, DATA), ("client", 4, OBSERVED))
               + moves("b", ("lead", 20, DATA))
               + moves("c", ("lead", 30, DATA), ("prospect", 0, FIRST_SEEN)))
    result = funnels(history, PERIOD)[ALL]
    lead, prospect = result.conversions
    assert (lead.entered, lead.converted) == (3, 2)  # a and c moved on within the period; b did not
    assert (prospect.entered, prospect.converted) == (2, 1)
    times = {t.stage: t for t in result.times}
    assert times["lead"].stays == 1 and times["lead"].median_days == pytest.approx(30)  # c's end is first_seen
    assert times["prospect"].median_days == pytest.approx(6)


def handoff(contact, status, *, started, touched=None, due=None, owner="u1", account="main"):
    return Handoff("hubspot", account, contact, owner, status, NOW - timedelta(hours=started),
                   NOW - timedelta(hours=due) if due is not None else None,
                   NOW - timedelta(hours=touched) if touched is not None else None, owner)


def test_sla_outcomes_fall_in_the_week_they_were_due():
    items = [handoff("a", "met", started=50, due=26, touched=40), handoff("b", "breached", started=30, due=6),
             handoff("c", "late", started=24 * 20, due=24 * 19, touched=24 * 18),
             handoff("d", "met", started=24 * 60, due=24 * 59)]  # due before the period: not counted
    weeks = weekly_outcomes(items, PERIOD)
    assert dict(weeks[-1]) == {"breached": 1}  # due Monday 06:00, this week
    assert dict(weeks[-2]) == {"met": 1}  # due Sunday 10:00, last week
    assert sum(sum(w.values()) for w in weeks) == 3


def test_time_to_first_touch_per_owner_and_team():
    items = [handoff(str(i), "met", started=10 + i, touched=i, owner="u1") for i in range(5)] + [
        handoff("x", "late", started=100, touched=0, owner="u2", account="other")]
    by_owner = {row.name: row for row in touch_times(items, PERIOD, owner_key)}
    assert by_owner["hubspot/main/u1"].p50_hours == pytest.approx(10) and by_owner["hubspot/main/u1"].touched == 5
    assert by_owner["hubspot/other/u2"].p95_hours == pytest.approx(100) and by_owner["hubspot/other/u2"].late == 1
    assert [r.name for r in touch_times(items, PERIOD, team_key(None))] == ["hubspot/other", "hubspot/main"]
    teams = touch_times(items, PERIOD, team_key({"u1": "inside sales", "u2": "inside sales"}))
    assert [(r.name, r.touched) for r in teams] == [("inside sales", 6)]


def test_breaches_are_listed_oldest_first_with_days_and_hours():
    late = [OpenBreach("hubspot", "main", c, "u", None, NOW - timedelta(hours=h)) for c, h in (("a", 5), ("b", 76))]
    assert [(o.breach.contact_id, o.text) for o in overdue(late, NOW)] == [("b", "3 d 4 h"), ("a", "5 h")]
    assert overdue_text(timedelta(minutes=-5)) == "0 h"


def test_quantiles_interpolate_between_ranks():
    assert quantile([], 0.5) is None and quantile([7], 0.95) == 7
    assert quantile([1, 2, 3, 4], 0.5) == 2.5 and quantile(list(range(101)), 0.95) == pytest.approx(95)


def test_the_wilson_interval_matches_published_values():
    low, high = wilson(81, 263)  # Newcombe (1998), example: 81/263 -> 0.2553 to 0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


@given(st.integers(0, 500), st.integers(1, 500))
def test_the_wilson_interval_holds_the_observed_proportion(successes, extra):
    trials = successes + extra
    low, high = wilson(successes, trials)
    assert 0.0 <= low <= successes / trials <= high <= 1.0
