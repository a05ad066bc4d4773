"""What each condition operator means, on real contact shapes (CRM text, numbers as text, lists, dates)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.model import DealStatus, PipelineStage
from sync.rules.field_conditions import head_count_range_holds, range_test

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def base(minimal_rules_text: str) -> str:
    return minimal_rules_text


@pytest.fixture(scope="module")
def fires(compile_rules, base):
    """fires(condition, contact): whether the fit rule `software`, with its condition replaced, fires."""
    def check(condition: str, person) -> bool:
        rules = compile_rules(base.replace("{field: industry, eq: software}", condition))
        return "software" in {f.name for f in rules.evaluate(person, NOW).fired}
    return check


@pytest.mark.parametrize(("condition", "attrs", "expected"), [
    ("{field: industry, eq: software}", {"industry": "Software "}, True),  # case and spaces ignored
    ("{field: industry, eq: Software, case_sensitive: true}", {"industry": "software"}, False),
    ("{field: industry, ne: software}", {"industry": None}, True),  # ne is exactly not eq
    ("{field: industry, in: [finance, software]}", {"industry": "FINANCE"}, True),
    ("{field: industry, not_in: [finance, software]}", {"industry": "retail"}, True),
    ("{field: job_title, contains: secur}", {"job_title": "Head of Security"}, True),
    ("{field: job_title, matches: '^(CISO|CTO)$'}", {"job_title": "ciso"}, True),
    ("{field: job_title, matches: '^(CISO|CTO)$', case_sensitive: true}", {"job_title": "ciso"}, False),
    ("{field: company_size, gte: 50, lte: 500}", {"company_size": 500}, True),
    ("{field: company_size, gt: 50, lt: 500}", {"company_size": 500}, False),
    ("{field: company_size, gte: 50}", {"company_size": None}, False),
    ("{field: company_size, eq: 120}", {"company_size": 120}, True),
    # a band holds a size test when every head count in it does, read up to, not including, its top (bands
    # share edges); one straddling the threshold does not; an open band holds only lower bounds
    ("{field: company_size, gte: 50}", {"company_size_range": (50, 100)}, True),
    ("{field: company_size, gte: 50}", {"company_size_range": (25, 50)}, False),
    ("{field: company_size, lt: 50}", {"company_size_range": (25, 50)}, True),
    ("{field: company_size, lt: 10}", {"company_size_range": (5, 25)}, False),  # straddles
    ("{not: {field: company_size, lt: 10}}", {"company_size_range": (5, 25)}, True),
    ("{field: company_size, gte: 50, lt: 1000}", {"company_size_range": (500, 1000)}, True),
    ("{field: company_size, gte: 1000}", {"company_size_range": (1000, None)}, True),
    ("{field: company_size, gte: 50, lt: 1000}", {"company_size_range": (1000, None)}, False),
    ("{field: company_size, gt: 5000}", {"company_size_range": (1000, None)}, False),  # straddles
    ("{field: company_size, eq: 50}", {"company_size_range": (50, 100)}, False),  # a band is no head count
    ("{field: company_size, exists: true}", {"company_size_range": (1000, None)}, True),
    ("{field: company_size, exists: false}", {"company_size": None}, True),
    ("{field: company_size, exists: true}", {"company_size": 12}, True),
    ("{field: fields.employees, gte: 50}", {"fields": {"employees": "1200"}}, True),  # numbers as CRM text
    ("{field: fields.employees, gte: 50}", {"fields": {"employees": "many"}}, False),
    ("{field: fields.need, exists: true}", {"fields": {"need": "   "}}, False),  # blank is empty
    ("{field: fields.need, exists: false}", {"fields": {}}, True),
    ("{field: fields.tags, contains: vip}", {"fields": {"tags": ["VIP", "partner"]}}, True),  # multi-select
    ("{field: fields.tags, in: [vip]}", {"fields": {"tags": ["VIP", "partner"]}}, True),
    ("{field: fields.opted_in, eq: true}", {"fields": {"opted_in": "Yes"}}, True),  # checkbox as text
    ("{field: fields.opted_in, eq: true}", {"fields": {"opted_in": False}}, False),
    ("{field: fields.opted_in, eq: true}", {"fields": {"opted_in": 1}}, True),  # checkbox as 0/1
    ("{field: fields.opted_in, eq: true}", {"fields": {"opted_in": "Oui"}}, True),  # a French CRM's yes/no
    ("{field: fields.opted_in, eq: false}", {"fields": {"opted_in": "non"}}, True),
    ("{field: email_domain, in: [gmail.com]}", {"email": "Someone@GMAIL.com"}, True),
    ("{field: email_domain, exists: true}", {"email": "not-an-address"}, False),
    ("{field: created_at, within_days: 30}", {"created_at": NOW - timedelta(days=3)}, True),
    ("{field: created_at, within_days: 30}", {"created_at": NOW + timedelta(days=3)}, False),  # future
    ("{field: created_at, older_than_days: 30}", {"created_at": NOW - timedelta(days=31)}, True),
    ("{field: fields.renewal, within_days: 30}", {"fields": {"renewal": "2026-10-20"}}, True),  # ISO text
    ("{not: {field: industry, eq: software}}", {"industry": "software"}, False),
    ("{all: [{field: industry, eq: software}, {field: country, eq: FR}]}", {"industry": "software",
                                                                            "country": "DE"}, False),
    ("{any: [{field: industry, eq: software}, {field: country, eq: FR}]}", {"industry": "x", "country": "fr"}, True),
    # text compares without case and without accents, on both sides, unless case_sensitive
    ("{field: job_title, eq: etudiante}", {"job_title": "Étudiante"}, True),
    ("{field: job_title, in: [Gérant, PDG]}", {"job_title": "GERANT"}, True),
    ("{field: job_title, contains: systèmes d'information}", {"job_title": "DSI (Systemes d’Information)"}, True),
    ("{field: job_title, matches: '^[ée]tudiant'}", {"job_title": "ÉTUDIANTE en M2"}, True),
    ("{field: job_title, matches: '\\brssi\\b'}", {"job_title": "RSSI Groupe"}, True),
    ("{field: job_title, eq: Étudiante, case_sensitive: true}", {"job_title": "Etudiante"}, False),
    # seniority read from the title when the CRM gives none (the minimal rules list no levels: nothing derived)
    ("{field: seniority, exists: false}", {"job_title": "Directeur", "seniority": None}, True),
    # a stated timing names a buying window within the horizon
    ("{field: fields.timing, buying_window: true}", {"fields": {"timing": "dans 3 mois"}}, True),
    ("{field: fields.timing, buying_window: true}", {"fields": {"timing": "within 36 months"}}, False),
    ("{field: fields.timing, buying_window: 3}", {"fields": {"timing": "within 6 months"}}, False),
    ("{field: fields.timing, buying_window: true}", {"fields": {"timing": NOW.date() + timedelta(days=40)}}, True),
    ("{field: fields.timing, buying_window: true}", {"fields": {"timing": 6}}, False),
])
def test_field_operators(fires, contact, condition, attrs, expected) -> None:
    assert fires(condition, contact(**attrs)) is expected


@pytest.mark.parametrize(("condition", "events", "expected"), [
    ("{events: {type: download, within_days: 30, at_least: 3}}", [("download", d) for d in (1, 5, 29)], True),
    ("{events: {type: download, within_days: 30, at_least: 3}}", [("download", d) for d in (1, 5, 31)], False),
    ("{events: {type: download, at_most: 1}}", [("download", 1), ("download", 2)], False),
    ("{events: {type: [download, webinar], at_least: 2}}", [("download", 1), ("webinar", 2)], True),
    ("{events: {at_least: 3}}", [("visit", 1), ("form", 2), ("download", 3)], True),  # any type
    ("{events: {type: download}}", [("download", -1)], False),  # a future event is not a signal yet
    ("{events: {type: download, at_least: 0, at_most: 0}}", [], True),
    ("{events: {type: [download, download], at_least: 2}}", [("download", 1)], False),  # listed twice, counted once
])
def test_event_counts(fires, contact, condition, events, expected) -> None:
    assert fires(condition, contact(events=events)) is expected


def test_event_source_filter(fires, contact) -> None:
    from sync.model import EngagementEvent
    person = contact()
    person.events = [EngagementEvent(type="download", at=NOW - timedelta(days=1), source="linkedin")]
    assert fires("{events: {type: download, source: linkedin}}", person)
    assert not fires("{events: {type: download, source: webinar}}", person)
    assert fires("{events: {source: [linkedin, x]}}", person)


@pytest.mark.parametrize(("condition", "activities", "expected"), [
    ("{activities: {kind: call, within_days: 7}}", [("call", 3)], True),
    ("{activities: {kind: call, within_days: 7}}", [("call", 8)], False),
    ("{activities: {kind: [call, meeting], by: owner, at_least: 2}}", [("call", 1), ("meeting", 2)], True),
    ("{activities: {kind: call, by: owner}}", [("call", 1, "someone-else")], False),
    ("{activities: {kind: call, by: sales}}", [("call", 1, "someone-else")], False),
    ("{activities: {kind: call}}", [("call", 1, None)], True),
])
def test_activity_counts(fires, contact, condition, activities, expected) -> None:
    assert fires(condition, contact(owner_id="owner-1", activities=activities)) is expected


def test_accepted_meetings_count_from_acceptance(fires, contact) -> None:
    from sync.model import Activity, ActivityKind
    person = contact(owner_id="owner-1")
    person.activities = [Activity(kind=ActivityKind.MEETING, at=NOW + timedelta(days=5), done=False, by="owner-1",
                                  accepted_at=NOW - timedelta(days=2))]
    assert fires("{activities: {kind: meeting, accepted: true, within_days: 7}}", person)
    assert not fires("{activities: {kind: meeting, accepted: true, within_days: 1}}", person)
    assert not fires("{activities: {kind: meeting}}", person)  # not held yet
    person.activities = [Activity(kind=ActivityKind.MEETING, at=NOW + timedelta(days=5), done=False, by="owner-1",
                                  accepted_at=NOW + timedelta(days=1))]
    assert not fires("{activities: {kind: meeting, accepted: true}}", person)  # accepted in the future: not yet



def test_a_meeting_that_took_place_was_accepted_when_the_crm_does_not_say_when(fires, contact) -> None:
    """Salesforce events and HubSpot meetings carry no acceptance time: a held meeting was accepted, at the latest
    when it took place; a no-show, a canceled or a still scheduled one was not."""
    from sync.model import Activity, ActivityKind
    accepted = "{activities: {kind: meeting, accepted: true, within_days: 7}}"
    person = contact(owner_id="owner-1")
    for outcome, counts in ((None, True), ("completed", True), ("no_show", False), ("canceled", False),
                            ("scheduled", False)):
        person.activities = [Activity(kind=ActivityKind.MEETING, at=NOW - timedelta(days=2), by="owner-1",
                                      outcome=outcome)]
        assert fires(accepted, person) is counts, outcome
    person.activities = [Activity(kind=ActivityKind.MEETING, at=NOW - timedelta(days=2), by="owner-1", done=False)]
    assert not fires(accepted, person)  # not held
    person.activities = [Activity(kind=ActivityKind.MEETING, at=NOW - timedelta(days=9), by="owner-1")]
    assert not fires(accepted, person)  # held (so accepted) 9 days ago: outside the window


def test_seniority_is_read_from_the_title_when_the_crm_gives_none(compile_rules, base, contact) -> None:
    rules = compile_rules(base.replace("{field: industry, eq: software}", "{field: seniority, eq: director}")
                          + "seniority_from_title:\n  - {level: director, matches: '\\bdirect(eur|rice|or)\\b'}\n")
    fired = lambda person: "software" in {f.name for f in rules.evaluate(person, NOW).fired}  # noqa: E731
    assert fired(contact(job_title="Directrice Générale Adjointe"))
    assert not fired(contact(job_title="Directrice", seniority="manager"))  # the CRM's seniority wins
    assert fired(contact(job_title="Engineer", seniority="Director"))


def test_activities_skip_automation_and_open_tasks_unless_asked(fires, contact) -> None:
    from sync.model import Activity, ActivityKind
    person = contact()
    person.activities = [
        Activity(kind=ActivityKind.EMAIL, at=NOW - timedelta(days=1), by="u", automated=True),
        Activity(kind=ActivityKind.MEETING, at=NOW - timedelta(days=1), by="u", done=False),
    ]
    assert not fires("{activities: {}}", person)
    assert fires("{activities: {kind: email, include_automated: true}}", person)
    assert fires("{activities: {kind: meeting, include_open: true}}", person)


@pytest.mark.parametrize(("condition", "deals", "expected"), [
    ("{deals: {status: open, stage: [proposal, negotiation]}}",
     [{"status": DealStatus.OPEN, "stage": PipelineStage.PROPOSAL}], True),
    ("{deals: {status: won, amount_gte: 10000}}", [{"status": DealStatus.WON, "amount": 9999.0}], False),
    ("{deals: {status: won, recurring: true}}", [{"status": DealStatus.WON, "contract_months": 24}], True),
    ("{deals: {status: won, recurring: true}}",
     [{"status": DealStatus.WON, "contract_months": 24, "recurring": False}], False),  # the flag wins
    ("{deals: {status: won, closed_within_days: 30}}",
     [{"status": DealStatus.WON, "close_date": date(2026, 10, 20)}], True),
    ("{deals: {status: [won, lost], at_least: 2}}", [{"status": DealStatus.WON}, {"status": DealStatus.LOST}], True),
])
def test_deal_predicates(fires, contact, condition, deals, expected) -> None:
    assert fires(condition, contact(deals=deals)) is expected


def test_named_conditions_are_reused_by_ref(compile_rules, contact, base) -> None:
    text = "conditions:\n  target: {field: industry, in: [software]}\n" + base.replace(
        "{field: industry, eq: software}", "{ref: target}")
    rules = compile_rules(text)
    assert rules.evaluate(contact(industry="software"), NOW).fit == 40


def test_score_conditions_see_the_scores(compile_rules, contact, base) -> None:
    text = base + """classification:
  maturity:
    hot: {score: engagement, gte: 10}
    warm: {score: total, gte: 1}
"""
    rules = compile_rules(text)
    qualified = {"fields": {"need": "x", "decision_role": "dm", "timing": "soon"}}
    assert rules.evaluate(contact(**qualified), NOW).maturity == "cold"
    assert rules.evaluate(contact(**qualified, industry="software"), NOW).maturity == "warm"
    assert rules.evaluate(contact(**qualified, industry="software", events=[("download", 0)]), NOW).maturity == "hot"


def test_decay_halves_per_half_life(compile_rules, contact, base) -> None:
    rules = compile_rules(base)  # downloads: 10 points each, half-life 10 days
    decision = rules.evaluate(contact(events=[("download", 10), ("download", 20)]), NOW)
    assert [f.points for f in decision.fired if f.name == "downloads"] == [7.5]  # 5 + 2.5


def test_decay_windows(compile_rules, contact, base) -> None:
    text = base.replace("decay: {half_life_days: 10}", "decay: {windows: [{within_days: 7, factor: 1}, "
                                                                 "{within_days: 30, factor: 0.5}]}")
    decision = compile_rules(text).evaluate(contact(events=[("download", 1), ("download", 8), ("download", 40)]), NOW)
    assert [f.points for f in decision.fired if f.name == "downloads"] == [15.0]  # 10 + 5 + 0


def test_per_event_points_are_capped_by_max_points(compile_rules, contact, base) -> None:
    decision = compile_rules(base).evaluate(contact(events=[("download", 0)] * 50), NOW)
    assert [f.points for f in decision.fired if f.name == "downloads"] == [30.0]


@given(low=st.integers(0, 20_000), width=st.one_of(st.none(), st.integers(1, 20_000)),
       threshold=st.integers(0, 25_000), operator=st.sampled_from(("gt", "gte", "lt", "lte")))
def test_a_band_holds_a_size_test_exactly_when_every_head_count_in_it_does(low, width, threshold, operator):
    """The band [low, low + width) (open when width is None) against each head count it covers: a band is
    never decided otherwise than the head counts it stands for, whichever CRM holds which."""
    in_range = range_test(*(threshold if name == operator else None for name in ("gt", "gte", "lt", "lte")))
    bounded_above = operator in ("lt", "lte")
    span = (low, None if width is None else low + width)
    covered = range(low, low + (width or 50_000))
    assert head_count_range_holds(span, in_range, bounded_above) is all(in_range(count) for count in covered)
