"""Properties over arbitrary contacts (hypothesis): bounded scores, determinism, explanations that add up."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage, Stage
from sync.rules import ContactError, ContactMemory, Decision

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
DIMENSIONS = ("fit", "engagement", "intent")

moments = st.integers(min_value=-3 * 365 * 24, max_value=30 * 24).map(lambda h: NOW - timedelta(hours=h))
texts = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(
    ["software", "CISO", "IT Director", "director", "c_level", "student", "FR", "decision_maker",
     "within 6 months", "provisional", "gmail.com", "x@gmail.com", "true"]))
values = st.one_of(texts, st.integers(), st.floats(allow_nan=True), st.booleans(), st.lists(texts, max_size=3))
event_types = st.one_of(st.sampled_from(["download", "webinar", "visit", "form", "email_open", "email_reply",
                                         "demo_request", "pricing_view", "meeting_booked", "trade_show"]),
                        st.text(max_size=10))
events = st.builds(EngagementEvent, type=event_types, at=moments,
                   source=st.one_of(st.none(), st.sampled_from(["ads", "x"]), st.text(max_size=8)))
activities = st.builds(Activity, kind=st.sampled_from(tuple(ActivityKind)), at=moments,
                       by=st.one_of(st.none(), st.sampled_from(["o1", "o2", "x"])),
                       direction=st.sampled_from([None, "inbound", "outbound"]), done=st.booleans(),
                       automated=st.booleans())
deals = st.builds(Deal, id=st.text(min_size=1, max_size=5), status=st.sampled_from(tuple(DealStatus)),
                  stage=st.one_of(st.none(), st.sampled_from(tuple(PipelineStage))),
                  amount=st.one_of(st.none(), st.floats(min_value=-1e9, max_value=1e9)),
                  recurring=st.one_of(st.none(), st.booleans()),
                  contract_months=st.one_of(st.none(), st.integers(min_value=0, max_value=120)))
contacts = st.builds(
    Contact, crm=st.just("h"), id=st.text(min_size=1, max_size=8), email=texts, owner_id=st.sampled_from(["o1", None]),
    company=texts, industry=texts, company_size=st.one_of(st.none(), st.integers(-5, 10**7)), job_title=texts,
    seniority=texts, country=texts, created_at=st.one_of(st.none(), moments),
    fields=st.dictionaries(st.sampled_from(["need", "timing", "budget", "decision_role", "competitor",
                                            "not_interested", "other", "headcount", "tier", "partner",
                                            "signed_up", "metrics", "champion"]), values, max_size=8),
    events=st.lists(events, max_size=40), activities=st.lists(activities, max_size=12), deals=st.lists(deals, max_size=3),
    override_stage=st.one_of(st.none(), st.sampled_from(tuple(Stage))),
)
memories = st.one_of(st.none(), st.builds(ContactMemory, qualified_at=st.one_of(st.none(), moments),
                                          stage=st.one_of(st.none(), st.sampled_from(tuple(Stage))),
                                          was_prospect=st.booleans()))
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(person=contacts, memory=memories)
def test_score_is_within_0_and_100_and_each_dimension_within_its_cap(rules, person, memory) -> None:
    decision = rules.evaluate(person, NOW, memory)
    assert 0 <= decision.score <= 100
    for dim, cap in zip(DIMENSIONS, rules.caps, strict=True):
        assert 0 <= getattr(decision, dim) <= cap
    assert decision.score == decision.fit + decision.engagement + decision.intent


@PROFILE
@given(person=contacts, memory=memories)
def test_evaluation_is_deterministic(rules, person, memory) -> None:
    assert rules.evaluate(person, NOW, memory) == rules.evaluate(person, NOW, memory)
    assert rules.evaluate_many([person, person], NOW, {person.id: memory} if memory else None)[0] == \
        rules.evaluate_many([person], NOW, {person.id: memory} if memory else None)[0]


@PROFILE
@given(person=contacts)
def test_explanation_points_add_up_to_the_score_before_caps(rules, person) -> None:
    decision = rules.evaluate(person, NOW)
    for dim, cap in zip(DIMENSIONS, rules.caps, strict=True):
        raw = sum(f.points for f in decision.fired if f.dimension == dim)
        assert getattr(decision, dim) == round(min(max(raw, 0.0), cap))
    assert all(f.points != 0 for f in decision.fired)


@PROFILE
@given(batch=st.lists(st.one_of(contacts, st.builds(Contact, crm=st.just("h"), id=st.just("broken"),
                                                    events=st.just(["not an event"]))), max_size=5))
def test_a_batch_always_yields_one_result_per_contact(rules, batch) -> None:
    results = rules.evaluate_many(batch, NOW)
    assert len(results) == len(batch)
    for person, result in zip(batch, results, strict=True):
        assert isinstance(result, ContactError if person.id == "broken" else Decision)


@PROFILE
@given(person=contacts, memory=memories)
def test_every_condition_kind_decides_within_bounds(every_condition_rules, person, memory) -> None:
    """A rules file using every condition kind: scores within caps, explanation adding up, same answer twice."""
    rules = every_condition_rules
    decision = rules.evaluate(person, NOW, memory)
    assert decision == rules.evaluate(person, NOW, memory)
    for dim, cap in zip(DIMENSIONS, rules.caps, strict=True):
        raw = sum(f.points for f in decision.fired if f.dimension == dim)
        assert getattr(decision, dim) == round(min(max(raw, 0.0), cap))
    assert decision.framework == "meddic"


@PROFILE
@given(person=contacts, memory=memories, instants=st.lists(moments, min_size=1, max_size=4))
def test_the_hand_off_search_shortcuts_answer_as_the_full_evaluation(rules, every_condition_rules, person, memory,
                                                                      instants) -> None:
    """The hand-off search reads the static values from the evaluation at now, and asks the framework before
    summing the scores: the same answers as evaluating everything again."""
    for compiled in (rules, every_condition_rules):
        assessor = compiled.assessor
        context = compiled.history.context(person, NOW.timestamp())
        fired: list = []
        total, *_ = assessor.capped(assessor.raw_scores(context, fired))
        context.scores = (float(total), *context.scores[1:])
        met, _ = compiled.framework.evaluate(context)
        known = assessor.known_from(fired, met)
        assert known == assessor.static_values(context)
        full = copy.copy(assessor)
        full.framework_first = False
        for moment in instants:
            at = moment.timestamp()
            assert assessor.qualifies_at(context, at, known) == full.qualifies_at(context, at, known)


@PROFILE
@given(person=contacts)
def test_the_remembered_hand_off_maturity_is_the_replayed_one(rules, person) -> None:
    first = rules.evaluate(person, NOW)
    later = NOW + timedelta(days=45)
    remembered = rules.evaluate(person, later, first.memory)
    replayed = rules.evaluate(person, later, msgspec.structs.replace(first.memory, handoff_maturity=None))
    assert remembered.sla == replayed.sla
