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


@pytest.fixture(scope="session")
def rules() -> CompiledRules:
    return load_rules(None)


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
