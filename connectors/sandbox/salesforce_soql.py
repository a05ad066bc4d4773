"""A small SOQL engine for the Salesforce sandbox: the subset a sync sends, with Salesforce's own errors.

Supported: `SELECT f, Parent.f FROM Object [WHERE cond] [ORDER BY f [ASC|DESC], ...] [LIMIT n]` where `cond`
combines comparisons (`= != < <= > >=`, `IN (...)`, `NOT IN (...)`) with AND, OR, NOT and parentheses, on
fields or parent paths (`Opportunity.SystemModstamp`), against string, number, true/false/null, date and
datetime literals, and semi-joins / anti-joins (`WhoId IN (SELECT Id FROM Contact WHERE ...)`).
Equality on strings ignores case, as in SOQL; ids compare in their 18-char form. Unknown columns answer
`INVALID_FIELD` "No such column ..." and syntax errors `MALFORMED_QUERY`, the codes the real API gives.

Datetime literals follow "Date Formats and Date Literals in WHERE" (SOQL and SOSL Reference): exactly
`YYYY-MM-DDThh:mm:ssZ` or `YYYY-MM-DDThh:mm:ss+hh:mm` / `-hh:mm`, whole seconds. A literal with a fraction
of a second is not one of the documented formats and is refused as malformed; the stored values it is
compared with keep their milliseconds (`salesforce_store`), so `SystemModstamp >= 2026-11-02T09:00:00Z`
also matches a row stamped 09:00:00.700.

Semi-joins and anti-joins follow "Comparison Operators" > "Semi-Joins with IN and Anti-Joins with NOT IN"
(SOQL and SOSL Reference) and its restrictions, each refused with MALFORMED_QUERY as the API does:
- no more than two semi-join or anti-join subqueries per WHERE clause;
- not combined with OR, and not under NOT (write the anti-join instead);
- the left operand is one Id or reference (foreign key) field, without a relationship path;
- the subquery selects exactly one Id or reference field, without a relationship path, from another object
  than the main query, has no ORDER BY, LIMIT or COUNT, and nests no semi-join of its own;
- ActivityHistory, Attachment, Event, EventAttendee, Note, OpenActivity and Task are not supported as the
  object of a subquery ("Entity 'Task' is not supported for semi join inner selects"); they may be the main
  query's object, as in the reference's own `SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact ...)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol

TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})(?![\d.]))
    | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
    | (?P<number>-?\d+(?:\.\d+)?(?![\w:-]))
    | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
MAX_SEMI_JOINS = 2
NOT_IN_SUBQUERIES = frozenset({"ActivityHistory", "Attachment", "Event", "EventAttendee", "Note", "OpenActivity",
                               "Task"})

Predicate = Callable[[Mapping[str, Any]], bool]
Values = set[Any] | Callable[[], set[Any]]  # IN-list values, or a semi-join's (computed when first needed)


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def malformed(message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message)


class Catalog(Protocol):
    """What the parser asks of the org: field checks, values, and the rows a subquery selects."""

    def check_path(self, sobject: str, path: str) -> None: ...  # raises SoqlError for an unknown one

    def resolve(self, sobject: str, record: Mapping[str, Any], path: str) -> Any: ...

    def is_key(self, sobject: str, name: str) -> bool: ...  # an Id or a reference (foreign key) field

    def column_values(self, sobject: str, column: str, where: Predicate | None) -> set[Any]: ...

    def equal(self, left: Any, right: Any) -> bool: ...

    def normalise(self, value: Any) -> Any: ...


@dataclass(frozen=True)
class Query:
    columns: list[str]
    sobject: str
    where: Predicate | None
    order: list[tuple[str, bool]]  # (path, descending)
    limit: int | None
    hints: list[tuple[str, Values]]  # (field, normalised values) every matching row must have: index lookups


@dataclass
class _Condition:
    predicate: Predicate
    hints: list[tuple[str, Values]] = field(default_factory=list)
    joins: int = 0  # semi-joins and anti-joins inside


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "datetime":
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    if kind == "date":
        return date.fromisoformat(text)
    return float(text) if "." in text else int(text)


class _Parser:
    def __init__(self, soql: str, catalog: Catalog) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(soql):
            match = TOKEN.match(soql, position)
            if not match or match.end() == position:
                if soql[position:].strip() == "":
                    break
                raise malformed(f"unexpected token: '{soql[position : position + 20].strip()}'")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0
        self.catalog = catalog

    def peek(self, upper: bool = True) -> str | None:
        if self.index >= len(self.tokens):
            return None
        value = self.tokens[self.index][1]
        return value.upper() if upper else value

    def take(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise malformed("unexpected end of query")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, word: str) -> None:
        _, value = self.take()
        if value.upper() != word:
            raise malformed(f"expecting '{word}', found '{value}'")

    def name(self) -> str:
        kind, value = self.take()
        if kind != "word":
            raise malformed(f"expecting a field, found '{value}'")
        return value

    def parse(self) -> Query:
        self.expect("SELECT")
        columns = [self.name()]
        while self.peek() == ",":
            self.take()
            columns.append(self.name())
        self.expect("FROM")
        sobject = self.name()
        for column in columns:
            self.catalog.check_path(sobject, column)
        where: _Condition | None = None
        if self.peek() == "WHERE":
            self.take()
            where = self.disjunction(sobject, nested=False)
            if where.joins > MAX_SEMI_JOINS:
                raise malformed("Maximum 2 semi join sub-selects are allowed")
        order: list[tuple[str, bool]] = []
        if self.peek() == "ORDER":
            self.take()
            self.expect("BY")
            while True:
                path = self.name()
                self.catalog.check_path(sobject, path)
                descending = False
                if self.peek() in ("ASC", "DESC"):
                    descending = self.take()[1].upper() == "DESC"
                order.append((path, descending))
                if self.peek() != ",":
                    break
                self.take()
        limit = None
        if self.peek() == "LIMIT":
            self.take()
            limit = int(self.take()[1])
        if self.peek() is not None:
            raise malformed(f"unexpected token: '{self.peek(upper=False)}'")
        return Query(columns, sobject, where.predicate if where else None, order, limit,
                     where.hints if where else [])

    # each level returns a _Condition; `nested` is true inside a subquery's WHERE (no semi-join allowed there)
    def disjunction(self, sobject: str, *, nested: bool) -> _Condition:
        parts = [self.conjunction(sobject, nested=nested)]
        while self.peek() == "OR":
            self.take()
            parts.append(self.conjunction(sobject, nested=nested))
        if len(parts) == 1:
            return parts[0]
        if any(part.joins for part in parts):
            raise malformed("Semi join sub-selects are not allowed with the 'OR' operator")
        predicates = [part.predicate for part in parts]
        return _Condition(lambda record: any(predicate(record) for predicate in predicates))

    def conjunction(self, sobject: str, *, nested: bool) -> _Condition:
        parts = [self.factor(sobject, nested=nested)]
        while self.peek() == "AND":
            self.take()
            parts.append(self.factor(sobject, nested=nested))
        if len(parts) == 1:
            return parts[0]
        predicates = [part.predicate for part in parts]
        return _Condition(lambda record: all(predicate(record) for predicate in predicates),
                          [hint for part in parts for hint in part.hints], sum(part.joins for part in parts))

    def factor(self, sobject: str, *, nested: bool) -> _Condition:
        if self.peek() == "NOT":
            self.take()
            negated = self.factor(sobject, nested=nested)
            if negated.joins:
                raise malformed("NOT can't be used with a semi join sub-select: write the anti-join (NOT IN)")
            return _Condition(lambda record: not negated.predicate(record))
        if self.peek() == "(":
            self.take()
            grouped = self.disjunction(sobject, nested=nested)
            self.expect(")")
            return grouped
        return self.comparison(sobject, nested=nested)

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "word":
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            raise malformed(f"unexpected token: '{text}'")
        if kind == "op":
            raise malformed(f"unexpected token: '{text}'")
        return _literal(kind, text)

    def comparison(self, sobject: str, *, nested: bool) -> _Condition:
        path = self.name()
        self.catalog.check_path(sobject, path)
        negate = False
        if self.peek() == "NOT":
            self.take()
            negate = True
        operator = self.take()[1].upper()
        catalog = self.catalog
        if operator == "IN":
            self.expect("(")
            if self.peek() == "SELECT":
                return self.semi_join(sobject, path, negate=negate, nested=nested)
            values = [self.value()]
            while self.peek() == ",":
                self.take()
                values.append(self.value())
            self.expect(")")
            wanted = {catalog.normalise(value) for value in values if value is not None}
            return _Condition(
                lambda record: (catalog.normalise(catalog.resolve(sobject, record, path)) in wanted) != negate,
                [] if negate else [(path, wanted)])
        if negate:
            raise malformed("NOT must precede IN")
        value = self.value()
        checks: dict[str, Callable[[Any], bool]] = {
            "=": lambda found: catalog.equal(found, value),
            "!=": lambda found: not catalog.equal(found, value),
            "<>": lambda found: not catalog.equal(found, value),
            "<": lambda found: found is not None and value is not None and found < value,
            "<=": lambda found: found is not None and value is not None and found <= value,
            ">": lambda found: found is not None and value is not None and found > value,
            ">=": lambda found: found is not None and value is not None and found >= value,
        }
        if operator not in checks:
            raise malformed(f"unexpected operator: '{operator}'")
        check = checks[operator]
        hints: list[tuple[str, Values]] = (
            [(path, {catalog.normalise(value)})] if operator == "=" and value is not None else [])
        return _Condition(lambda record: check(catalog.resolve(sobject, record, path)), hints)

    def semi_join(self, sobject: str, left: str, *, negate: bool, nested: bool) -> _Condition:
        """`left [NOT] IN (SELECT column FROM inner [WHERE ...])`, the opening parenthesis already read."""
        if nested:
            raise malformed("Nesting of semi join sub-selects is not supported")
        if "." in left or not self.catalog.is_key(sobject, left):
            raise malformed(f"semi join sub-selects can only be compared with an Id or reference field, "
                            f"cannot use: '{left}'")
        self.expect("SELECT")
        column = self.name()
        if self.peek() == ",":
            raise malformed("semi join sub-selects can only select one field")
        self.expect("FROM")
        inner = self.name()
        if inner in NOT_IN_SUBQUERIES:
            raise malformed(f"Entity '{inner}' is not supported for semi join inner selects")
        if inner == sobject:
            raise malformed(f"semi join sub-selects can't query the main query's object '{sobject}'")
        self.catalog.check_path(inner, column)
        if "." in column or not self.catalog.is_key(inner, column):
            raise malformed(f"semi join sub selects can only query id fields, cannot use: '{column}'")
        where: _Condition | None = None
        if self.peek() == "WHERE":
            self.take()
            where = self.disjunction(inner, nested=True)
        if self.peek() in ("ORDER", "LIMIT", "GROUP"):
            raise malformed(f"{self.peek()} is not supported in semi join sub-selects")
        self.expect(")")
        catalog = self.catalog
        found: dict[str, set[Any]] = {}

        def values() -> set[Any]:  # computed once, when the main query first needs it
            if "set" not in found:
                found["set"] = catalog.column_values(inner, column, where.predicate if where else None)
            return found["set"]

        return _Condition(
            lambda record: (catalog.normalise(catalog.resolve(sobject, record, left)) in values()) != negate,
            [] if negate else [(left, values)], joins=1)


def parse(soql: str, catalog: Catalog) -> Query:
    """Parse `soql` against `catalog` (column checks happen here, so an unknown field fails before any row
    is read)."""
    return _Parser(soql, catalog).parse()
