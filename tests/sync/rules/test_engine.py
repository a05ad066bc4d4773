"""The engine's decisions: stage precedence, memory, the hand-off moment, SLA, batches."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from sync.model import ClientKind, DealStatus, Maturity, Stage
from sync.rules import ContactError, ContactMemory, InvalidContact, SlaStatus
from sync.rules.engine import rules_version
from sync.synthetic import synthetic_contacts

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
QUALIFIED = {"fields": {"need": "x", "decision_role": "dm", "timing": "soon"}}


def test_stage_precedence_override_client_disqualified(rules, contact) -> None:
    won = [{"status": DealStatus.WON, "recurring": True}]
    assert rules.evaluate(contact(deals=won, seniority="student"), NOW).stage is Stage.CLIENT
    pinned = rules.evaluate(contact(deals=won, override_stage=Stage.LEAD), NOW)
    assert (pinned.stage, pinned.overridden, pinned.client_kind) == (Stage.LEAD, True, None)
    assert "pinned in the CRM" in pinned.reason and "client (recurring)" in pinned.reason


def test_override_to_prospect_gets_maturity_and_sla(rules, contact) -> None:
    decision = rules.evaluate(contact(override_stage=Stage.PROSPECT, owner_id="o"), NOW)
    assert decision.stage is Stage.PROSPECT and decision.overridden
    assert decision.maturity is Maturity.COLD
    assert decision.sla.status is SlaStatus.RUNNING and decision.sla.started_at == NOW


def test_framework_or_score_qualifies(compile_rules, minimal_rules_text, contact) -> None:
    rules = compile_rules(minimal_rules_text)
    by_framework = rules.evaluate(contact(**QUALIFIED), NOW)
    assert by_framework.stage is Stage.PROSPECT and by_framework.qualified and by_framework.score == 0
    by_score = rules.evaluate(contact(industry="software", events=[("demo_request", 1)]), NOW)
    assert by_score.stage is Stage.PROSPECT and not by_score.qualified and by_score.score == 70
    only_framework = compile_rules(minimal_rules_text + "classification:\n  prospect: {qualify_on: framework}\n")
    assert only_framework.evaluate(contact(industry="software", events=[("demo_request", 1)]), NOW).stage is Stage.LEAD
    both = compile_rules(minimal_rules_text + "classification:\n  prospect: {qualify_on: score_and_framework}\n")
    assert both.evaluate(contact(**QUALIFIED), NOW).stage is Stage.LEAD


def test_memory_records_the_first_qualification_and_clears_when_it_ends(compile_rules, minimal_rules_text,
                                                                        contact) -> None:
    rules = compile_rules(minimal_rules_text)
    first = rules.evaluate(contact(**QUALIFIED), NOW)
    assert first.memory == ContactMemory(qualified_at=NOW, stage=Stage.PROSPECT, was_prospect=True,
                                         handoff="first_seen", handoff_maturity=Maturity.COLD)
    later = rules.evaluate(contact(**QUALIFIED), NOW + timedelta(days=2), first.memory)
    assert later.sla.started_at == NOW and later.memory.qualified_at == NOW
    lost_interest = rules.evaluate(contact(), NOW + timedelta(days=3), later.memory)
    assert lost_interest.stage is Stage.PROSPECT  # sticky while active (no dated activity: not inactive)
    won = rules.evaluate(contact(deals=[{"status": DealStatus.WON}]), NOW, later.memory)
    assert won.memory.qualified_at is None and won.memory.was_prospect


def test_handoff_is_the_signal_that_qualified(compile_rules, minimal_rules_text, contact) -> None:
    rules = compile_rules(minimal_rules_text)
    person = contact(industry="software", owner_id="o", events=[("download", 20), ("demo_request", 5),
                                                                  ("download", 2)])
    decision = rules.evaluate(person, NOW)
    assert decision.sla.started_at == NOW - timedelta(days=5)  # the demo request, not the first sync
    assert decision.sla.status is SlaStatus.BREACHED


def test_handoff_unknown_when_qualified_by_undated_fields(compile_rules, minimal_rules_text, contact) -> None:
    rules = compile_rules(minimal_rules_text)
    decision = rules.evaluate(contact(**QUALIFIED, events=[("download", 30)]), NOW)
    assert decision.sla.started_at == NOW  # first seen qualified now


def test_handoff_is_within_the_current_run_of_activity(compile_rules, minimal_rules_text, contact) -> None:
    rules = compile_rules(minimal_rules_text)
    # qualified a year ago by a demo request, went quiet, came back with a new demo request 3 days ago
    person = contact(industry="software", events=[("demo_request", 400), ("demo_request", 3)])
    assert rules.evaluate(person, NOW).sla.started_at == NOW - timedelta(days=3)


def test_nurture_after_the_inactivity_window(rules, contact) -> None:
    memory = ContactMemory(stage=Stage.PROSPECT, was_prospect=True)
    quiet = rules.evaluate(contact(events=[("webinar", 91)]), NOW, memory)
    assert quiet.stage is Stage.NURTURE and quiet.memory.was_prospect and quiet.memory.qualified_at is None
    active = rules.evaluate(contact(events=[("webinar", 89)]), NOW, memory)
    assert active.stage is Stage.PROSPECT


def test_client_kinds(rules, contact) -> None:
    def kind(*deals: dict) -> ClientKind | None:
        return rules.evaluate(contact(deals=list(deals)), NOW).client_kind
    assert kind({"status": DealStatus.WON, "contract_months": 12}) is ClientKind.RECURRING
    assert kind({"status": DealStatus.WON, "contract_months": 6}) is ClientKind.ONE_OFF
    assert kind({"status": DealStatus.WON, "recurring": True}) is ClientKind.RECURRING
    assert kind({"status": DealStatus.WON}, {"status": DealStatus.WON}) is ClientKind.RECURRING
    # repeated purchases are deals closed on different days; a licence and its installation closed together
    # are one purchase
    licence, installation, renewal = ({"status": DealStatus.WON, "close_date": date(2026, 5, 4)},
                                      {"status": DealStatus.WON, "close_date": date(2026, 5, 4)},
                                      {"status": DealStatus.WON, "close_date": date(2026, 9, 1)})
    assert kind(licence, installation) is ClientKind.ONE_OFF
    assert kind(licence, installation, renewal) is ClientKind.RECURRING
    assert kind({"status": DealStatus.LOST}) is None


def test_explanation_lists_every_rule_that_fired(rules) -> None:
    for person in synthetic_contacts(200):
        decision = rules.evaluate(person, NOW)
        for dim in ("fit", "engagement", "intent"):
            raw = sum(f.points for f in decision.fired if f.dimension == dim)
            cap = rules.caps[("fit", "engagement", "intent").index(dim)]
            assert getattr(decision, dim) == round(min(max(raw, 0), cap))
        assert decision.rules_version == rules.version
        assert decision.to_fields()["stage"] == decision.stage.value


def test_evaluate_many_isolates_bad_contacts(rules, contact) -> None:
    good = contact(id="good")
    bad = contact(id="bad")
    bad.events = [object()]  # type: ignore[list-item]
    results = rules.evaluate_many([good, bad, good], NOW, {"good": ContactMemory()})
    assert [type(r).__name__ for r in results] == ["Decision", "ContactError", "Decision"]
    error = results[1]
    assert isinstance(error, ContactError) and error.contact_id == "bad"
    assert error.message == "events[0]: expected an event, got object"
    with pytest.raises(InvalidContact, match="events\\[0\\]"):
        rules.evaluate(bad, NOW)


def test_now_must_be_timezone_aware(rules, contact) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.evaluate(contact(), datetime(2026, 11, 2))


def test_population_is_spread_over_every_stage(rules) -> None:
    stages = {rules.evaluate(c, NOW).stage for c in synthetic_contacts(1000)}
    assert stages >= {Stage.LEAD, Stage.PROSPECT, Stage.CLIENT, Stage.DISQUALIFIED}


def test_version_is_a_content_hash(rules) -> None:
    assert rules.version == rules_version(rules.spec)


@pytest.mark.parametrize(("framework", "fields", "met"), [
    ("meddic", {"metrics": "-20% incidents", "decision_role": "champion", "decision_criteria": "SOC2",
                "decision_process": "board in March", "need": "SIEM", "economic_buyer": "CFO"},
     {"metrics", "economic_buyer", "decision_criteria", "decision_process", "identify_pain", "champion"}),
    ("gpct", {"goals": "ISO 27001", "plans": "audit", "need": "no SOC", "timing": "within 3 months"},
     {"goals", "plans", "challenges", "timeline"}),
])
def test_other_frameworks_qualify_and_report_their_criteria(compile_rules, contact, framework, fields, met) -> None:
    from sync.rules import default_rules_path
    text = default_rules_path().read_text(encoding="utf-8").replace("framework: bant", f"framework: {framework}")
    rules = compile_rules(text)
    decision = rules.evaluate(contact(fields=fields), NOW)
    assert decision.framework == framework
    assert set(decision.criteria_met) == met and decision.qualified
    assert decision.stage is Stage.PROSPECT
    partial = rules.evaluate(contact(fields={"need": "SIEM"}), NOW)
    assert not partial.qualified and partial.stage is Stage.LEAD
    assert f"{framework.upper()} missing" in partial.reason
