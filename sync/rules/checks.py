"""Whole-file checks on a validated rules file, each problem located at the key that causes it.

The schema checks each piece in isolation; these check how pieces fit: the
dimension caps add up to 100, names are unique, every `ref` names a condition
and none refers to itself, an operator suits its field's type, scores are not
tested inside the scoring rules, the chosen framework is defined, the holiday
country exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sync.configfile import Loc, PositionedDocument
from sync.errors import ConfigIssue
from sync.rules import schema as s
from sync.rules.calendar import country_subdivisions

DIMENSIONS = ("fit", "engagement", "intent")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def walk(cond: s.AnyConditionModel, loc: Loc) -> Iterator[tuple[s.AnyConditionModel, Loc]]:
    """Every condition nested in `cond` (itself included) with its location in the file."""
    yield cond, loc
    if isinstance(cond, s.AllCondition):
        for i, part in enumerate(cond.all):
            yield from walk(part, (*loc, "all", i))
    elif isinstance(cond, s.AnyCondition):
        for i, part in enumerate(cond.any):
            yield from walk(part, (*loc, "any", i))
    elif isinstance(cond, s.NotCondition):
        yield from walk(cond.not_, (*loc, "not"))


def roots(rules: s.RulesFile) -> Iterator[tuple[str, s.AnyConditionModel, Loc]]:
    """Every top-level condition of the file: (where it is used, condition, location)."""
    for name, cond in rules.conditions.items():
        yield "named", cond, ("conditions", name)
    for dim in DIMENSIONS:
        for i, rule in enumerate(getattr(rules.scoring, dim).rules):
            if rule.when is not None:
                yield "scoring", rule.when, ("scoring", dim, "rules", i, "when")
    for fw in s.FRAMEWORK_CRITERIA:
        framework = getattr(rules.qualification, fw)
        if framework is not None:
            for name, cond in framework.criteria.items():
                yield "criteria", cond, ("qualification", fw, "criteria", name)
    for i, rule in enumerate(rules.classification.disqualify):
        yield "classification", rule.when, ("classification", "disqualify", i, "when")
    for band in ("hot", "warm"):
        cond = getattr(rules.classification.maturity, band)
        if cond is not None:
            yield "classification", cond, ("classification", "maturity", band)


def _field_issue(cond: s.FieldCondition) -> tuple[str, str] | None:
    """(operator, message) when the operator does not suit the field's type."""
    field = cond.field
    for op in cond.operators:
        if field in s.TEXT_FIELDS and op in (*s.RANGE_OPS, *s.DATE_OPS):
            return op, f"{op} needs a number or date field; {field!r} is text"
        if field in s.NUMBER_FIELDS and op in ("contains", "matches", *s.DATE_OPS):
            return op, f"{op} does not apply to {field!r}, a number (use eq, in, gt, gte, lt, lte)"
        if field in s.DATE_FIELDS and op in (*s.TEXT_OPS, *s.RANGE_OPS):
            return op, f"{op} does not apply to {field!r}, a date (use within_days or older_than_days)"
    return None


def _count_issue(query: s.EventQuery | s.ActivityQuery | s.DealQuery) -> str | None:
    if query.at_most is not None and query.at_most < query.at_least:
        return f"at_most ({query.at_most}) is below at_least ({query.at_least})"
    return None


def check_conditions(rules: s.RulesFile, doc: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    for key in rules.conditions:
        if not _valid_name(key):
            issues.append(doc.issue(("conditions", key), f"condition name {key!r}: use letters, digits, _ . - "
                                                         "and start with a letter"))
    uses_score: dict[str, bool] = {}
    for where, root, root_loc in roots(rules):
        for cond, loc in walk(root, root_loc):
            if isinstance(cond, s.FieldCondition):
                problem = _field_issue(cond)
                if problem:
                    issues.append(doc.issue((*loc, problem[0]), problem[1]))
            elif isinstance(cond, (s.EventsCondition, s.ActivitiesCondition, s.DealsCondition)):
                query = cond.events if isinstance(cond, s.EventsCondition) else (
                    cond.activities if isinstance(cond, s.ActivitiesCondition) else cond.deals)
                problem_text = _count_issue(query)
                if problem_text:
                    kind = "events" if isinstance(cond, s.EventsCondition) else (
                        "activities" if isinstance(cond, s.ActivitiesCondition) else "deals")
                    issues.append(doc.issue((*loc, kind, "at_most"), problem_text))
            elif isinstance(cond, s.RefCondition):
                if cond.ref not in rules.conditions:
                    known = ", ".join(sorted(rules.conditions)) or "none defined"
                    issues.append(doc.issue((*loc, "ref"), f"unknown condition {cond.ref!r} (conditions: {known})"))
                elif where == "scoring" and _refers_to_score(cond.ref, rules, uses_score, ()):
                    issues.append(doc.issue((*loc, "ref"), f"condition {cond.ref!r} tests a score, which scoring "
                                                           "rules cannot use (the score is what they compute)"))
            elif isinstance(cond, s.ScoreCondition) and where == "scoring":
                issues.append(doc.issue((*loc, "score"), "scoring rules cannot test a score (the score is what "
                                                         "they compute)"))
    for name in rules.conditions:
        cycle = _find_cycle(name, rules, ())
        if cycle:
            issues.append(doc.issue(("conditions", name), "conditions refer to each other in a loop: "
                                                          + " -> ".join(cycle)))
    return issues


def _valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def _refs(cond: s.AnyConditionModel) -> Iterator[str]:
    for inner, _ in walk(cond, ()):
        if isinstance(inner, s.RefCondition):
            yield inner.ref


def _find_cycle(name: str, rules: s.RulesFile, path: tuple[str, ...]) -> tuple[str, ...] | None:
    if name in path:
        return (*path[path.index(name):], name) if path and path[0] == name else None
    cond = rules.conditions.get(name)
    if cond is None:
        return None
    for ref in _refs(cond):
        found = _find_cycle(ref, rules, (*path, name))
        if found:
            return found
    return None


def _refers_to_score(name: str, rules: s.RulesFile, memo: dict[str, bool], path: tuple[str, ...]) -> bool:
    if name in memo:
        return memo[name]
    if name in path or name not in rules.conditions:
        return False
    result = False
    for inner, _ in walk(rules.conditions[name], ()):
        if isinstance(inner, s.ScoreCondition) or (
                isinstance(inner, s.RefCondition) and _refers_to_score(inner.ref, rules, memo, (*path, name))):
            result = True
            break
    memo[name] = result
    return result


def check_scoring(rules: s.RulesFile, doc: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    caps = [getattr(rules.scoring, dim).cap for dim in DIMENSIONS]
    if sum(caps) != 100:
        detail = " + ".join(f"{dim} {cap}" for dim, cap in zip(DIMENSIONS, caps, strict=True))
        issues.append(doc.issue(("scoring",), f"the dimension caps must add up to 100 so the score reads out of "
                                              f"100: {detail} = {sum(caps)}"))
    seen: dict[str, Loc] = {}
    named: list[tuple[str, Loc]] = [
        (rule.name, ("scoring", dim, "rules", i, "name"))
        for dim in DIMENSIONS for i, rule in enumerate(getattr(rules.scoring, dim).rules)]
    named += [(rule.name, ("classification", "disqualify", i, "name"))
              for i, rule in enumerate(rules.classification.disqualify)]
    for name, loc in named:
        if name in seen:
            line, _ = doc.locate(seen[name])
            issues.append(doc.issue(loc, f"duplicate rule name {name!r} (first used on line {line})"))
        else:
            seen[name] = loc
    for dim in DIMENSIONS:
        decay = getattr(rules.scoring, dim).decay
        if decay is not None and decay.windows:
            edges = [w.within_days for w in decay.windows]
            if edges != sorted(set(edges)):
                issues.append(doc.issue(("scoring", dim, "decay", "windows"),
                                        "decay windows must be listed from the shortest to the longest, "
                                        "each within_days once"))
    return issues


def check_qualification(rules: s.RulesFile, doc: PositionedDocument) -> list[ConfigIssue]:
    issues = []
    q = rules.qualification
    if getattr(q, q.framework) is None:
        issues.append(doc.issue(("qualification", "framework"),
                                f"framework {q.framework!r} is chosen but has no section qualification.{q.framework} "
                                f"defining its criteria"))
    for fw, vocabulary in s.FRAMEWORK_CRITERIA.items():
        framework = getattr(q, fw)
        if framework is None:
            continue
        for name in framework.criteria:
            if name not in vocabulary:
                issues.append(doc.issue(("qualification", fw, "criteria", name),
                                        f"unknown {fw.upper()} criterion {name!r} (expected {', '.join(vocabulary)})"))
        required = framework.required if framework.required is not None else s.FRAMEWORK_REQUIRED[fw]
        for i, name in enumerate(required):
            if name not in framework.criteria:
                loc = ("qualification", fw, "required", i) if framework.required is not None else (
                    "qualification", fw, "criteria")
                issues.append(doc.issue(loc, f"required {fw.upper()} criterion {name!r} has no condition under "
                                             f"criteria"))
    return issues


def check_sla(rules: s.RulesFile, doc: PositionedDocument) -> list[ConfigIssue]:
    spec = rules.sla.calendar.holidays
    if spec is None:
        return []
    subdivisions = country_subdivisions(spec.country)
    if subdivisions is None:
        return [doc.issue(("sla", "calendar", "holidays", "country"),
                          f"no public holidays known for country {spec.country!r} (use an ISO code such as FR, DE, US)")]
    if spec.subdivision is not None and spec.subdivision not in subdivisions:
        listed = ", ".join(subdivisions[:12]) or "none"
        return [doc.issue(("sla", "calendar", "holidays", "subdivision"),
                          f"unknown subdivision {spec.subdivision!r} for {spec.country} (known: {listed}...)")]
    return []


CHECKS = (check_scoring, check_conditions, check_qualification, check_sla)

__all__ = ["CHECKS", "DIMENSIONS", "roots", "walk"]
