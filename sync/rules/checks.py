"""Whole-file checks on a validated rules file, each problem located at the key that causes it.

The schema checks each piece in isolation; these check how pieces fit: the
dimension caps add up to 100, names are unique, every `ref` names a condition,
no references loop and none nest too deep (`sync.rules.references`), an
operator suits its field's type, scores are not tested inside the scoring
rules, the chosen framework is defined, the holiday country exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sync.configfile import Loc, PositionedDocument
from sync.errors import ConfigIssue
from sync.rules import schema
from sync.rules.calendar import country_subdivisions
from sync.rules.references import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_TESTS,
    find_cycles,
    measure,
    measure_named,
    reference_graph,
    score_testing,
)

DIMENSIONS = ("fit", "engagement", "intent")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def walk(condition: schema.AnyConditionModel, loc: Loc) -> Iterator[tuple[schema.AnyConditionModel, Loc]]:
    """Every condition nested in `condition` (itself included) with its location in the file."""
    yield condition, loc
    if isinstance(condition, schema.AllCondition):
        for index, part in enumerate(condition.all):
            yield from walk(part, (*loc, "all", index))
    elif isinstance(condition, schema.AnyCondition):
        for index, part in enumerate(condition.any):
            yield from walk(part, (*loc, "any", index))
    elif isinstance(condition, schema.NotCondition):
        yield from walk(condition.not_, (*loc, "not"))


def roots(rules: schema.RulesFile) -> Iterator[tuple[str, schema.AnyConditionModel, Loc]]:
    """Every top-level condition of the file: (where it is used, condition, location)."""
    for name, condition in rules.conditions.items():
        yield "named", condition, ("conditions", name)
    for dimension in DIMENSIONS:
        for index, rule in enumerate(getattr(rules.scoring, dimension).rules):
            if rule.when is not None:
                yield "scoring", rule.when, ("scoring", dimension, "rules", index, "when")
    for framework_name in schema.FRAMEWORK_CRITERIA:
        framework = getattr(rules.qualification, framework_name)
        if framework is not None:
            for name, condition in framework.criteria.items():
                yield "criteria", condition, ("qualification", framework_name, "criteria", name)
    for index, rule in enumerate(rules.classification.disqualify):
        yield "classification", rule.when, ("classification", "disqualify", index, "when")
    for band in ("hot", "warm"):
        condition = getattr(rules.classification.maturity, band)
        if condition is not None:
            yield "classification", condition, ("classification", "maturity", band)


def _field_issue(condition: schema.FieldCondition) -> tuple[str, str] | None:
    """(operator, message) when the operator does not suit the field's type."""
    field = condition.field
    for operator in condition.operators:
        if field in schema.TEXT_FIELDS and operator in (*schema.RANGE_OPS, *schema.DATE_OPS):
            return operator, f"{operator} needs a number or date field; {field!r} is text"
        if field in schema.NUMBER_FIELDS and operator in ("contains", "matches", "buying_window", *schema.DATE_OPS):
            return operator, f"{operator} does not apply to {field!r}, a number (use eq, in, gt, gte, lt, lte)"
        if field in schema.DATE_FIELDS and operator in (*schema.TEXT_OPS, *schema.RANGE_OPS):
            return operator, f"{operator} does not apply to {field!r}, a date (use within_days or older_than_days)"
    return None


def _count_issue(query: schema.EventQuery | schema.ActivityQuery | schema.DealQuery) -> str | None:
    if query.at_most is not None and query.at_most < query.at_least:
        return f"at_most ({query.at_most}) is below at_least ({query.at_least})"
    return None


def check_conditions(rules: schema.RulesFile, document: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    for key in rules.conditions:
        if not _valid_name(key):
            issues.append(document.issue(("conditions", key), f"condition name {key!r}: use letters, digits, "
                                                              "_ . - and start with a letter"))
    graph = reference_graph(rules)
    cycles = find_cycles(graph)
    for cycle in cycles:
        issues.append(document.issue(("conditions", cycle[0]), "conditions refer to each other in a loop: "
                                                               + " -> ".join(cycle)))
    measured = measure_named(rules, graph) if not cycles else None
    tests_score = score_testing(rules, graph)
    named_reported = False  # one named condition past a limit is reported, not each one up a chain
    for where, root, root_loc in roots(rules):
        if measured is not None and (where != "named" or not named_reported):
            problem = _size_issue(*measure(root, measured))
            if problem:
                named_reported = named_reported or where == "named"
                issues.append(document.issue(root_loc, problem))
        for condition, loc in walk(root, root_loc):
            issues.extend(_condition_issues(condition, loc, where, rules, tests_score, document))
    return issues


def _size_issue(depth: int, size: int) -> str | None:
    if depth > MAX_CONDITION_DEPTH:
        return (f"conditions nest {depth:,} levels deep, counting the named conditions they refer to (at most "
                f"{MAX_CONDITION_DEPTH})")
    if size > MAX_CONDITION_TESTS:
        return (f"this condition takes more than {MAX_CONDITION_TESTS:,} tests to evaluate, counting each use of "
                "the named conditions it refers to (references doubling at each step?)")
    return None


def _condition_issues(condition: schema.AnyConditionModel, loc: Loc, where: str, rules: schema.RulesFile,
                      tests_score: set[str], document: PositionedDocument) -> list[ConfigIssue]:
    if isinstance(condition, schema.FieldCondition):
        problem = _field_issue(condition)
        return [document.issue((*loc, problem[0]), problem[1])] if problem else []
    if isinstance(condition, (schema.EventsCondition, schema.ActivitiesCondition, schema.DealsCondition)):
        if isinstance(condition, schema.EventsCondition):
            kind, query = "events", condition.events
        elif isinstance(condition, schema.ActivitiesCondition):
            kind, query = "activities", condition.activities
        else:
            kind, query = "deals", condition.deals
        problem_text = _count_issue(query)
        return [document.issue((*loc, kind, "at_most"), problem_text)] if problem_text else []
    if isinstance(condition, schema.RefCondition):
        if condition.ref not in rules.conditions:
            known = ", ".join(sorted(rules.conditions)[:20]) or "none defined"
            return [document.issue((*loc, "ref"), f"unknown condition {condition.ref[:80]!r} (conditions: {known})")]
        if where == "scoring" and condition.ref in tests_score:
            return [document.issue((*loc, "ref"), f"condition {condition.ref!r} tests a score, which scoring rules "
                                                  "cannot use (the score is what they compute)")]
        return []
    if isinstance(condition, schema.ScoreCondition) and where == "scoring":
        return [document.issue((*loc, "score"), "scoring rules cannot test a score (the score is what they "
                                                "compute)")]
    return []


def _valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def check_scoring(rules: schema.RulesFile, document: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    caps = [getattr(rules.scoring, dimension).cap for dimension in DIMENSIONS]
    if sum(caps) != 100:
        detail = " + ".join(f"{dimension} {cap}" for dimension, cap in zip(DIMENSIONS, caps, strict=True))
        issues.append(document.issue(("scoring",), f"the dimension caps must add up to 100 so the score reads out of "
                                              f"100: {detail} = {sum(caps)}"))
    seen: dict[str, Loc] = {}
    named: list[tuple[str, Loc]] = [
        (rule.name, ("scoring", dimension, "rules", index, "name"))
        for dimension in DIMENSIONS for index, rule in enumerate(getattr(rules.scoring, dimension).rules)]
    named += [(rule.name, ("classification", "disqualify", index, "name"))
              for index, rule in enumerate(rules.classification.disqualify)]
    for name, loc in named:
        if name in seen:
            line, _ = document.locate(seen[name])
            issues.append(document.issue(loc, f"duplicate rule name {name!r} (first used on line {line})"))
        else:
            seen[name] = loc
    for dimension in DIMENSIONS:
        decay = getattr(rules.scoring, dimension).decay
        if decay is not None and decay.windows:
            edges = [window.within_days for window in decay.windows]
            if edges != sorted(set(edges)):
                issues.append(document.issue(("scoring", dimension, "decay", "windows"),
                                        "decay windows must be listed from the shortest to the longest, "
                                        "each within_days once"))
    return issues


def check_qualification(rules: schema.RulesFile, document: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    qualification = rules.qualification
    if getattr(qualification, qualification.framework) is None:
        issues.append(document.issue(("qualification", "framework"),
                                f"framework {qualification.framework!r} is chosen but has no section "
                                f"qualification.{qualification.framework} "
                                f"defining its criteria"))
    for framework_name, vocabulary in schema.FRAMEWORK_CRITERIA.items():
        framework = getattr(qualification, framework_name)
        if framework is None:
            continue
        for name in framework.criteria:
            if name not in vocabulary:
                issues.append(document.issue(("qualification", framework_name, "criteria", name),
                                        f"unknown {framework_name.upper()} criterion {name!r} "
                                        f"(expected {', '.join(vocabulary)})"))
        required = framework.required if framework.required is not None else schema.FRAMEWORK_REQUIRED[framework_name]
        for index, name in enumerate(required):
            if name not in framework.criteria:
                loc = ("qualification", framework_name, "required", index) if framework.required is not None else (
                    "qualification", framework_name, "criteria")
                issues.append(document.issue(loc, f"required {framework_name.upper()} criterion {name!r} has no "
                                                  "condition under "
                                             f"criteria"))
    return issues


def check_sla(rules: schema.RulesFile, document: PositionedDocument) -> list[ConfigIssue]:
    spec = rules.sla.calendar.holidays
    if spec is None:
        return []
    subdivisions = country_subdivisions(spec.country)
    if subdivisions is None:
        return [document.issue(("sla", "calendar", "holidays", "country"),
                               f"no public holidays known for country {spec.country!r} (use an ISO code such as "
                               "FR, DE, US)")]
    if spec.subdivision is not None and spec.subdivision not in subdivisions:
        listed = ", ".join(subdivisions[:12]) or "none"
        return [document.issue(("sla", "calendar", "holidays", "subdivision"),
                               f"unknown subdivision {spec.subdivision!r} for {spec.country} (known: {listed}...)")]
    return []


CHECKS = (check_scoring, check_conditions, check_qualification, check_sla)

__all__ = ["CHECKS", "DIMENSIONS", "roots", "walk"]
