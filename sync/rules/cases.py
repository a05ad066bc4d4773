"""Rules cases: admin-written examples (a contact and what the rules must decide), run like unit tests.

A cases file pins the behaviour of a rules file: before publishing a change,
`crmsync rules test` runs every case and prints, for each mismatch, what was
expected and what the rules decided. The shipped rules ship with their cases
(config/rules.cases.yaml), run by the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync.configfile import PositionedDocument, read_yaml, validate
from sync.errors import ConfigError, ConfigIssue
from sync.model import ClientKind, Contact, Maturity, Stage
from sync.rules.decision import ContactMemory, Decision, SlaStatus
from sync.rules.engine import CompiledRules, InvalidContact
from sync.rules.inputs import contact_from_data, resolve_times

NoneWord = Literal["none"]
CASES_MAX_BYTES = 4_194_304  # cases are run by an admin on purpose, never by the daemon: 4 MiB


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def __str__(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min:g}..{self.max:g}"
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"


class Expect(_Model):
    """What the rules must decide. Only what is given is checked."""

    stage: Stage | None = None
    overridden: bool | None = None
    score: int | Range | None = None
    fit: int | Range | None = None
    engagement: int | Range | None = None
    intent: int | Range | None = None
    maturity: Maturity | NoneWord | None = Field(None, description="none: must have no maturity")
    client_kind: ClientKind | NoneWord | None = Field(None, description="none: must have no client kind")
    qualified: bool | None = None
    criteria_met: list[str] | None = Field(None, description="exactly these criteria, in any order")
    sla: SlaStatus | None = None
    sla_started_at: datetime | None = None
    sla_due_at: datetime | None = None
    sla_handoff: Literal["marketing", "sales", "first_seen"] | None = Field(
        None, description="how the hand-off was dated: a marketing signal, sales found it, or first seen")
    fired: list[str] | None = Field(None, description="rules that must fire (others may too)")
    not_fired: list[str] | None = Field(None, description="rules that must not fire")
    reason_contains: str | None = None


class MemorySpec(_Model):
    qualified_at: datetime | str | None = None
    stage: Stage | None = None
    was_prospect: bool = False
    handoff: Literal["marketing", "sales", "first_seen"] | None = None


class Case(_Model):
    name: str = Field(min_length=1)
    now: datetime | None = Field(None, description="the clock for this case; default: the file's now")
    memory: MemorySpec | None = None
    contact: dict[str, Any]
    expect: Expect


class CasesFile(_Model):
    now: datetime = Field(description="the clock of every case; times in contacts may be relative to it (-3d)")
    cases: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    name: str
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)  # (what, expected, actual)
    decision: Decision | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.error is None


@dataclass
class LoadedCase:
    case: Case
    contact: Contact
    now: datetime
    memory: ContactMemory | None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _check_unique_names(spec: CasesFile, document: PositionedDocument) -> list[ConfigIssue]:
    seen: set[str] = set()
    issues = []
    for index, case in enumerate(spec.cases):
        if case.name in seen:
            issues.append(document.issue(("cases", index, "name"), f"duplicate case name {case.name!r}"))
        seen.add(case.name)
    return issues


def load_cases(path: str | Path) -> list[LoadedCase]:
    """Validate a cases file and build its contacts; ConfigError with every problem located."""
    document = read_yaml(path, max_bytes=CASES_MAX_BYTES)
    spec = validate(document, CasesFile, checks=[_check_unique_names])
    loaded, issues = [], []
    for index, case in enumerate(spec.cases):
        now = _utc(case.now or spec.now)
        try:
            contact = contact_from_data(case.contact, now, document, ("cases", index, "contact"))
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        memory = None
        if case.memory is not None:
            raw = resolve_times(case.memory.model_dump(), now)
            qualified_at = raw["qualified_at"]
            if isinstance(qualified_at, str):
                issues.append(document.issue(("cases", index, "memory", "qualified_at"),
                                        f"not a time: {qualified_at!r} (use an ISO time or -3d, now-2h...)"))
                continue
            memory = ContactMemory(qualified_at=qualified_at, stage=raw["stage"], was_prospect=raw["was_prospect"],
                                   handoff=raw["handoff"])
        loaded.append(LoadedCase(case, contact, now, memory))
    if issues:
        raise ConfigError(sorted(issues, key=lambda issue: (issue.line, issue.column)))
    return loaded


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(sorted(str(item) for item in value)) + "]"
    return str(value)


def compare(expect: Expect, decision: Decision) -> list[tuple[str, str, str]]:
    """(what, expected, actual) for everything `expect` states that `decision` does not match."""
    out: list[tuple[str, str, str]] = []

    def check(what: str, expected: Any, actual: Any) -> None:
        if expected is None:
            return
        if isinstance(expected, Range):
            if not expected.holds(actual):
                out.append((what, str(expected), _show(actual)))
        elif expected == "none":
            if actual is not None:
                out.append((what, "none", _show(actual)))
        elif isinstance(expected, datetime):
            if actual is None or _utc(expected) != actual:
                out.append((what, _show(_utc(expected)), _show(actual)))
        elif expected != actual:
            out.append((what, _show(expected), _show(actual)))

    check("stage", expect.stage, decision.stage)
    check("overridden", expect.overridden, decision.overridden)
    for dimension in ("score", "fit", "engagement", "intent"):
        check(dimension, getattr(expect, dimension), getattr(decision, dimension))
    check("maturity", expect.maturity, decision.maturity)
    check("client_kind", expect.client_kind, decision.client_kind)
    check("qualified", expect.qualified, decision.qualified)
    if expect.criteria_met is not None and set(expect.criteria_met) != set(decision.criteria_met):
        out.append(("criteria_met", _show(expect.criteria_met), _show(decision.criteria_met)))
    check("sla", expect.sla, decision.sla.status)
    check("sla_started_at", expect.sla_started_at, decision.sla.started_at)
    check("sla_due_at", expect.sla_due_at, decision.sla.due_at)
    check("sla_handoff", expect.sla_handoff, decision.sla.handoff)
    names = {rule.name for rule in decision.fired}
    if expect.fired is not None:
        missing = [name for name in expect.fired if name not in names]
        if missing:
            out.append(("fired", f"includes {_show(missing)}", _show(names)))
    if expect.not_fired is not None:
        extra = [name for name in expect.not_fired if name in names]
        if extra:
            out.append(("not_fired", f"excludes {_show(extra)}", _show(names)))
    if expect.reason_contains is not None and expect.reason_contains not in decision.reason:
        out.append(("reason", f"contains {expect.reason_contains!r}", repr(decision.reason)))
    return out


def run_cases(rules: CompiledRules, cases: list[LoadedCase]) -> list[CaseResult]:
    results = []
    for item in cases:
        try:
            decision = rules.evaluate(item.contact, item.now, item.memory)
        except InvalidContact as exc:
            results.append(CaseResult(item.case.name, error=exc.message))
            continue
        results.append(CaseResult(item.case.name, compare(item.case.expect, decision), decision))
    return results


__all__ = ["CaseResult", "Case", "CasesFile", "Expect", "LoadedCase", "Range", "compare", "load_cases", "run_cases"]
