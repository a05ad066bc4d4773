"""Fixtures for the rules engine tests: the shipped rules (compiled once) and a terse contact builder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent
from sync.rules import CompiledRules, load_rules, rules_from_text

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Paris

MINIMAL_RULES = """
scoring:
  fit:
    cap: 40
    rules:
      - {name: software, when: {field: industry, eq: software}, points: 40}
  engagement:
    cap: 30
    decay: {half_life_days: 10}
    rules:
      - {name: downloads, per_event: {type: download}, points: 10, max_points: 30}
  intent:
    cap: 30
    rules:
      - {name: demo, when: {events: {type: demo_request, within_days: 30}}, points: 30}
qualification:
  framework: bant
  bant:
    criteria:
      need: {field: fields.need, exists: true}
      authority: {field: fields.decision_role, exists: true}
      timing: {field: fields.timing, exists: true}
"""

# Every kind of condition and scoring rule (date windows, deals, scores, decay windows, several buckets, sources),
# so that the properties hold for all of them, not only for what the shipped rules use.
EVERY_CONDITION_RULES = """
conditions:
  owner_touch: {activities: {kind: [call, email], by: owner, within_days: 45}}
  busy: {events: {within_days: 90, at_least: 5}}
scoring:
  threshold: 55
  fit:
    cap: 40
    rules:
      - {name: not_student, when: {field: seniority, ne: student}, points: 2}
      - {name: big_or_unknown, when: {not: {field: company_size, lt: 100}}, points: 3}
      - {name: size_band, when: {field: company_size, gt: 10, lte: 5000}, points: 5}
      - {name: size_text, when: {field: fields.headcount, gte: 50}, points: 2}
      - {name: exact_case, when: {field: country, in: [FR, DE], case_sensitive: true}, points: 4}
      - {name: not_in_list, when: {field: industry, not_in: [retail, Education]}, points: 3}
      - {name: numeric_eq, when: {field: fields.tier, eq: 2}, points: 3}
      - {name: bool_in, when: {field: fields.partner, in: [true]}, points: 3}
      - {name: contains_sec, when: {field: job_title, contains: sec}, points: 4}
      - {name: domain, when: {field: email_domain, in: [gmail.com, acme.io]}, points: -3}
      - {name: company_missing, when: {field: company, exists: false}, points: -2}
      - {name: recent_signup, when: {field: created_at, within_days: 60}, points: 4}
      - {name: old_signup, when: {field: fields.signed_up, older_than_days: 365}, points: 2}
  engagement:
    cap: 30
    decay:
      windows: [{within_days: 7, factor: 1.0}, {within_days: 30, factor: 0.5}, {within_days: 180, factor: 0.2}]
    rules:
      - {name: downloads, per_event: {type: download, within_days: 365}, points: 4, max_points: 12}
      - {name: media, per_event: {type: [webinar, visit]}, points: 2, max_points: 10}
      - {name: from_ads, per_event: {type: form, source: ads}, points: 3}
      - {name: any_source_x, when: {events: {source: x, within_days: 30}}, points: 2}
      - {name: any_event, when: {ref: busy}, points: 3}
      - {name: few_opens, when: {events: {type: email_open, at_least: 2, at_most: 4}}, points: 2}
  intent:
    cap: 30
    decay: {half_life_days: 20}
    rules:
      - {name: demo, per_event: {type: demo_request, within_days: 60}, points: 12, max_points: 20}
      - {name: pricing, per_event: {type: [pricing_view, pricing]}, points: 3}
      - {name: owner_called, when: {ref: owner_touch}, points: 5}
      - {name: sales_inbound, when: {activities: {by: sales, direction: inbound}}, points: 3}
      - {name: open_tasks, when: {activities: {kind: task, include_open: true, include_automated: true,
                                               at_least: 2}}, points: 2}
      - {name: big_deal, when: {deals: {amount_gte: 10000, status: [open, won]}}, points: 6}
      - {name: timing, when: {field: fields.timing, matches: "\\bQ[1-4]\\b|within"}, points: 5}
qualification:
  framework: meddic
  meddic:
    required: [metrics, champion]
    criteria:
      metrics: {any: [{field: fields.metrics, exists: true}, {score: engagement, gte: 10}]}
      economic_buyer: {field: fields.decision_role, eq: decision_maker}
      decision_criteria: {all: [{ref: owner_touch}, {field: fields.need, exists: true}]}
      decision_process: {deals: {status: open, closed_within_days: 30, at_most: 2}}
      identify_pain: {field: fields.need, contains: pain}
      champion: {any: [{field: fields.champion, exists: true}, {field: fields.decision_role, in: [champion]}]}
classification:
  disqualify:
    - {name: competitor, when: {field: fields.competitor, eq: true}}
    - {name: tiny, when: {all: [{field: company_size, lt: 3}, {not: {ref: busy}}]}}
  maturity:
    hot: {any: [{score: intent, gte: 15}, {events: {type: demo_request, within_days: 14}}]}
    warm: {ref: owner_touch}
  nurture:
    inactive_days: 60
    ignore_events: [email_open, visit]
sla:
  touch:
    by: owner
"""


@pytest.fixture(scope="session")
def rules() -> CompiledRules:
    return load_rules(None)


@pytest.fixture(scope="session")
def every_condition_rules() -> CompiledRules:
    return rules_from_text(EVERY_CONDITION_RULES, "every-condition.yaml")


@pytest.fixture(scope="session")
def compile_rules() -> Callable[[str], CompiledRules]:
    """Compile rules from YAML text (MINIMAL_RULES plus whatever a test appends or replaces)."""
    return lambda text: rules_from_text(text, "test-rules.yaml")


@pytest.fixture(scope="session")
def minimal_rules_text() -> str:
    return MINIMAL_RULES


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(scope="session")
def contact() -> Callable[..., Contact]:
    """contact(industry="software", events=[("download", 3)], activities=[("call", 2, "u1")], deals=[...])
    with events and activities given as (type or kind, days ago[, by])."""

    def build(*, events: list[tuple[str, float]] = (), activities: list[tuple[Any, ...]] = (),  # type: ignore[assignment]
              deals: list[dict[str, Any]] = (), **attrs: Any) -> Contact:  # type: ignore[assignment]
        attrs.setdefault("crm", "test")
        attrs.setdefault("id", "c-1")
        return Contact(
            events=[EngagementEvent(type=kind, at=days_ago(age)) for kind, age in events],
            activities=[Activity(kind=ActivityKind(item[0]), at=days_ago(item[1]),
                                 by=item[2] if len(item) > 2 else "owner-1") for item in activities],
            deals=[Deal(**{"id": f"d-{i}", "status": DealStatus.OPEN, **deal}) for i, deal in enumerate(deals)],
            **attrs,
        )
    return build
