"""A small SOQL engine for the Salesforce sandbox: the subset a sync sends, with Salesforce's own errors.

Supported: `SELECT f, Parent.f FROM Object [WHERE cond] [ORDER BY f [ASC|DESC], ...] [LIMIT n]` where `cond`
combines comparisons (`= != < <= > >=`, `IN (...)`, `NOT IN (...)`) with AND, OR, NOT and parentheses, on
fields or parent paths (`Opportunity.SystemModstamp`), against string, number, true/false/null, date and
datetime literals. Equality on strings ignores case, as in SOQL; ids compare in their 18-char form.
Unknown columns answer `INVALID_FIELD` "No such column ..." and syntax errors `MALFORMED_QUERY`, the codes
the real API gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


Predicate = Callable[[Mapping[str, Any]], bool]
Parsed = tuple[Predicate, list[tuple[str, set[Any]]]]


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Query:
    columns: list[str]
    sobject: str
    where: Callable[[Mapping[str, Any]], bool] | None
    order: list[tuple[str, bool]]  # (path, descending)
    limit: int | None
    paths: set[str]  # every field path the query touches, for column checks
    hints: list[
        tuple[str, set[Any]]
    ]  # (field, normalised values) every matching row must have: index lookups


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "datetime":
        text = text.replace("Z", "+00:00")
        if text[-5] in "+-" and text[-3] != ":":
            text = f"{text[:-2]}:{text[-2:]}"
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    if kind == "date":
        return date.fromisoformat(text)
    return float(text) if "." in text else int(text)


class _Parser:
    def __init__(
        self,
        soql: str,
        resolve: Callable[[Mapping[str, Any], str], Any],
        equal: Callable[[Any, Any], bool],
        normalise: Callable[[Any], Any],
    ) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(soql):
            match = TOKEN.match(soql, position)
            if not match or match.end() == position:
                if soql[position:].strip() == "":
                    break
                raise SoqlError(
                    "MALFORMED_QUERY", f"unexpected token: '{soql[position : position + 20].strip()}'"
                )
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0
        self.resolve = resolve
        self.equal = equal
        self.normalise = normalise
        self.paths: set[str] = set()

    def peek(self, upper: bool = True) -> str | None:
        if self.index >= len(self.tokens):
            return None
        value = self.tokens[self.index][1]
        return value.upper() if upper else value

    def take(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, word: str) -> None:
        kind, value = self.take()
        if value.upper() != word:
            raise SoqlError("MALFORMED_QUERY", f"expecting '{word}', found '{value}'")

    def field(self) -> str:
        kind, value = self.take()
        if kind != "word":
            raise SoqlError("MALFORMED_QUERY", f"expecting a field, found '{value}'")
        self.paths.add(value)
        return value

    def parse(self) -> Query:
        self.expect("SELECT")
        columns = [self.field()]
        while self.peek() == ",":
            self.take()
            columns.append(self.field())
        self.expect("FROM")
        kind, sobject = self.take()
        where = None
        hints: list[tuple[str, set[Any]]] = []
        if self.peek() == "WHERE":
            self.take()
            where, hints = self.disjunction()
        order: list[tuple[str, bool]] = []
        if self.peek() == "ORDER":
            self.take()
            self.expect("BY")
            while True:
                path = self.field()
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
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek(upper=False)}'")
        return Query(columns, sobject, where, order, limit, self.paths, hints)

    # each returns (predicate, hints): hints are conditions every row the predicate accepts must meet
    def disjunction(self) -> Parsed:
        parts = [self.conjunction()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        predicates = [part for part, _ in parts]
        return (lambda record: any(predicate(record) for predicate in predicates)), []

    def conjunction(self) -> Parsed:
        parts = [self.factor()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        predicates = [part for part, _ in parts]
        hints = [hint for _, part_hints in parts for hint in part_hints]
        return (lambda record: all(predicate(record) for predicate in predicates)), hints

    def factor(self) -> Parsed:
        if self.peek() == "NOT":
            self.take()
            negated, _ = self.factor()
            return (lambda record: not negated(record)), []
        if self.peek() == "(":
            self.take()
            grouped = self.disjunction()
            self.expect(")")
            return grouped
        return self.comparison()

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "word":
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
        if kind == "op":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
        return _literal(kind, text)

    def comparison(self) -> Parsed:
        path = self.field()
        negate = False
        if self.peek() == "NOT":
            self.take()
            negate = True
        operator = self.take()[1].upper()
        resolve, equal = self.resolve, self.equal
        if operator == "IN":
            self.expect("(")
            values = [self.value()]
            while self.peek() == ",":
                self.take()
                values.append(self.value())
            self.expect(")")
            normalise = self.normalise
            wanted = {normalise(value) for value in values if value is not None}
            return (lambda record: (normalise(resolve(record, path)) in wanted) != negate), (
                [] if negate else [(path, wanted)]
            )
        if negate:
            raise SoqlError("MALFORMED_QUERY", "NOT must precede IN")
        value = self.value()
        checks: dict[str, Callable[[Any], bool]] = {
            "=": lambda found: equal(found, value),
            "!=": lambda found: not equal(found, value),
            "<>": lambda found: not equal(found, value),
            "<": lambda found: found is not None and value is not None and found < value,
            "<=": lambda found: found is not None and value is not None and found <= value,
            ">": lambda found: found is not None and value is not None and found > value,
            ">=": lambda found: found is not None and value is not None and found >= value,
        }
        if operator not in checks:
            raise SoqlError("MALFORMED_QUERY", f"unexpected operator: '{operator}'")
        check = checks[operator]
        hints = [(path, {self.normalise(value)})] if operator == "=" and value is not None else []
        return (lambda record: check(resolve(record, path))), hints


def parse(
    soql: str,
    resolve: Callable[[Mapping[str, Any], str], Any],
    equal: Callable[[Any, Any], bool],
    normalise: Callable[[Any], Any],
) -> Query:
    """Parse `soql`; `resolve(record, path)` reads a field or parent path, `equal` compares per SOQL rules
    and `normalise` gives the hashable form `equal` compares (for IN lists)."""
    return _Parser(soql, resolve, equal, normalise).parse()
