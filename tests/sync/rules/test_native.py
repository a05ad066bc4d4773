"""The C evaluator (sync/rules/_native.c) decides exactly as the Python engine, including where it hands back.

The hypothesis comparison lives with the other properties (test_properties.py); here: the install builds it,
a realistic corpus at several instants, and the cases its fast paths leave to Python on purpose.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

import sync.rules.engine
from sync.model import Activity, ActivityKind, Contact, EngagementEvent
from sync.rules import FiredRule, load_rules
from sync.synthetic import synthetic_contacts

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def test_ci_and_compiled_installs_have_the_c_evaluator_and_use_it() -> None:
    # setup.py builds both from the same build_ext run: a compiled engine without the C evaluator means its
    # build failed silently; and CI (`make test`: a regular install with a compiler) must always have both
    if os.environ.get("CI") == "true" or not sync.rules.engine.__file__.endswith(".py"):
        assert importlib.util.find_spec("sync.rules._native") is not None
        assert load_rules(None).native or os.environ.get("CRMSYNC_NATIVE") == "0"


def test_the_c_evaluator_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_NATIVE", "0")
    assert not load_rules(None).native


def test_a_realistic_corpus_gets_the_same_decisions_at_every_instant(both_paths) -> None:
    native, python = both_paths
    people = list(synthetic_contacts(1500, now=NOW, seed=7))
    memories = None
    for instant in (NOW, NOW + timedelta(days=3, hours=5), NOW + timedelta(days=95)):
        fast, reference = native.evaluate_many(people, instant, memories), python.evaluate_many(people, instant,
                                                                                               memories)
        assert fast == reference
        memories = {d.contact_id: d.memory for d in reference}


def _person(at: list[datetime], **extra: object) -> Contact:
    events = [EngagementEvent(type=kind, at=moment) for kind, moment in zip(
        ["download", "demo_request", "meeting_booked", "webinar", "visit", "email_reply"] * 4, at, strict=False)]
    activities = [Activity(kind=ActivityKind.CALL, at=moment, by="o1") for moment in at[::2]]
    return Contact(crm="hubspot", id="p1", owner_id="o1", email="a@acme.io", company="Acme", industry="software",
                   company_size=300, job_title="CISO", seniority="director", country="FR", events=events,
                   activities=activities, created_at=at[-1] if at else None,
                   fields={"need": "pain", "timing": "within 3 months", "decision_role": "champion"}, **extra)


@pytest.mark.parametrize("zone", [None, timezone(timedelta(0)), timezone(timedelta(hours=-5)), ZoneInfo("Europe/Paris")],
                         ids=["naive", "utc-not-the-singleton", "fixed-offset", "zoneinfo"])
def test_times_in_any_zone_and_in_any_order_convert_as_python_does(both_paths, zone) -> None:
    native, python = both_paths
    moments = [(NOW - timedelta(days=d, minutes=7 * d)).astimezone(zone) if zone else
               (NOW - timedelta(days=d, minutes=7 * d)).replace(tzinfo=None) for d in (1, 40, 3, 0.5, 20, 2, 8)]
    person = _person(moments)
    assert native.evaluate(person, NOW) == python.evaluate(person, NOW)


def test_a_duck_typed_contact_reads_through_ordinary_attributes(both_paths) -> None:
    """Not a msgspec Struct: no slot to read, so every attribute goes through getattr."""
    native, python = both_paths
    person = _person([NOW - timedelta(days=d) for d in (1, 2, 5)])
    duck = SimpleNamespace(**{name: getattr(person, name) for name in person.__struct_fields__})
    duck.events = [SimpleNamespace(type=e.type, at=e.at, source=e.source) for e in person.events]
    assert native.evaluate(duck, NOW) == python.evaluate(duck, NOW)


def test_remembered_text_tests_stay_right_past_the_memo_limit(both_paths) -> None:
    native, python = both_paths
    titles = [f"Head of security {i}" if i % 3 else f"Intern {i}" for i in range(9000)]
    people = [Contact(crm="h", id=str(i), job_title=title, fields={"timing": f"within {i % 13} weeks"})
              for i, title in enumerate(titles)]
    assert native.evaluate_many(people, NOW) == python.evaluate_many(people, NOW)


def test_the_top_contributors_text_is_the_python_formatting_of_a_stable_sort_by_weight(both_paths) -> None:
    native, _ = both_paths
    module = importlib.import_module("sync.rules._native")
    top_text = native._native.top_text  # the program's, with the labels of its fixed rules
    labels = native._reasons.labels  # the Python formatter's: id(shared FiredRule) -> text
    shared = [sc.fixed for sc in native.scorers if sc.fixed is not None]
    rng = random.Random(5)
    for _ in range(1000):
        fired = [rng.choice(shared) if rng.random() < 0.3 else
                 FiredRule("engagement", f"r{i}", rng.choice([-6.0, -4.0, 0.5, -0.5, 1.5, 2.5, 4.0, 6.0, 10.0, 2.25]))
                 for i in range(rng.randint(0, 9))]
        top = sorted(fired, key=lambda f: -abs(f.points))[:3]
        assert module.top3(fired) == top
        assert top_text(fired) == ", ".join([labels.get(id(f)) or f"{f.name} {round(f.points):+d}" for f in top])
    assert module.top3([FiredRule("fit", "nan", float("nan")), FiredRule("fit", "x", 1.0)]) is None
    assert top_text([FiredRule("fit", "inf", float("inf"))]) is None


HALVES_SCORING = """
scoring:
  threshold: 3
  fit:
    cap: 40
    rules:
      - {name: half, when: {field: industry, eq: software}, points: 2.5}
      - {name: another_half, when: {field: country, eq: FR}, points: 1.0}
  engagement:
    cap: 30
    rules:
      - {name: minus, when: {field: seniority, eq: student}, points: -7.5}
  intent:
    cap: 30
    rules:
      - {name: over, when: {field: job_title, exists: true}, points: 30}
      - {name: more, when: {field: company, exists: true}, points: 0.5}
"""


@pytest.mark.parametrize(("industry", "country", "expected_fit"), [("software", None, 2), ("software", "FR", 4),
                                                                  ("retail", "FR", 1)])
def test_capped_scores_round_half_to_even_and_clamp_as_python_does(both_paths, minimal_rules_text, industry,
                                                                  country, expected_fit) -> None:
    from sync.rules import CompiledRules, rules_from_text

    text = HALVES_SCORING + minimal_rules_text[minimal_rules_text.index("qualification:"):]
    spec = rules_from_text(text, "halves.yaml").spec
    native, python = CompiledRules(spec, "halves", native=True), CompiledRules(spec, "halves", native=False)
    person = Contact(crm="h", id="1", industry=industry, country=country, seniority="student", job_title="CTO",
                     company="Acme")
    fast, reference = native.evaluate(person, NOW), python.evaluate(person, NOW)
    assert fast == reference
    assert (fast.fit, fast.engagement, fast.intent) == (expected_fit, 0, 30)  # 30.5 capped, -7.5 floored at 0


def test_qualifying_at_an_earlier_instant_restores_the_context_and_agrees_with_python(both_paths) -> None:
    native, python = both_paths
    person = _person([NOW - timedelta(days=d) for d in (1, 2, 5, 9, 30)])
    for rules in (native, python):
        rules.evaluate(person, NOW)  # warm the per-rules caches the same way
    fast_ctx, slow_ctx = native._prepare(person, NOW.timestamp()), python._prepare(person, NOW.timestamp())
    fast_ctx.scores = slow_ctx.scores = (1.0, 2.0, 3.0, 4.0)
    for days in (0, 1, 2, 4, 6, 31):
        at = (NOW - timedelta(days=days)).timestamp()
        expected = python._qualifies_at(slow_ctx, at, python._static_values(slow_ctx))
        assert native._qualifies_at(fast_ctx, at, ([], [])) is expected
        assert (fast_ctx.now, fast_ctx.scores) == (NOW.timestamp(), (1.0, 2.0, 3.0, 4.0))


def test_the_program_must_be_configured_before_it_decides() -> None:
    module = importlib.import_module("sync.rules._native")
    bare = module.Program((), (), FiredRule, {})
    with pytest.raises(RuntimeError, match="configure"):
        bare.top_text([])
    with pytest.raises(ValueError, match="at most 64"):
        bare.configure((40.0, 30.0, 30.0), 70, 0, (), ("x",), (), (), ())
