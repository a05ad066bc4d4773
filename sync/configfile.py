"""Admin-edited YAML, loaded with the position of every key, validated into typed pydantic objects.

Every problem comes back as `PATH:LINE:COL: message`, pointing at the offending
key (or, for a missing key, at the mapping that lacks it), whether it is a YAML
syntax error, a duplicate key, a schema error or a cross-field check. All
problems are collected, not just the first, so an admin fixes a file in one go.
Nothing in the file is ever evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from sync.errors import ConfigError, ConfigIssue

M = TypeVar("M", bound=pydantic.BaseModel)
Loc = tuple[str | int, ...]


@dataclass
class PositionedDocument:
    """Plain Python data (dicts, lists, scalars) plus where each key and item stood in the file."""

    path: str
    data: Any
    # loc -> (line, column), 1-based; the loc of a mapping key points at the key itself
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Sequence[str | int]) -> tuple[int, int]:
        """The position of `loc`, or of its nearest ancestor that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.positions:
                return self.positions[loc]
            loc = loc[:-1]
        return self.positions.get((), (1, 1))

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        line, column = self.locate(loc)
        return ConfigIssue(self.path, line, column, message)


def _plain(node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*loc, str(key))
            try:
                line, col = node.lc.key(key)
                positions[child] = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                positions[child] = positions.get(loc, (1, 1))
            out[str(key) if not isinstance(key, (str, int, float, bool)) else key] = _plain(value, child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*loc, index)
            try:
                line, col = node.lc.item(index)
                positions[child] = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError, IndexError):
                positions[child] = positions.get(loc, (1, 1))
            items.append(_plain(value, child, positions))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, datetime):
        # ruamel's TimeStamp subclass confuses strict consumers (msgspec): hand out a plain datetime
        return datetime(node.year, node.month, node.day, node.hour, node.minute, node.second, node.microsecond,
                        tzinfo=node.tzinfo)
    return node


def parse_yaml(text: str, path: str) -> PositionedDocument:
    """Parse YAML text; syntax errors and duplicate keys raise ConfigError with their position."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        problem = problem.split("\n")[0]
        # ruamel quotes the values of a duplicate key: they may be secrets, and they drown the message
        problem = re.sub(r'(found duplicate key "[^"]*") with value .*', r"\1", problem)
        raise ConfigError([ConfigIssue(path, line, col, f"YAML syntax error: {problem}")]) from None
    except YAMLError as exc:
        raise ConfigError([ConfigIssue(path, 1, 1, f"YAML error: {str(exc).splitlines()[0]}")]) from None
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    data = _plain(root, (), positions)
    return PositionedDocument(path=path, data=data, positions=positions)


def read_yaml(path: str | Path) -> PositionedDocument:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(p), 1, 1, "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(p), 1, 1, f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 1, 1, f"cannot read file: {exc.strerror}")]) from None
    return parse_yaml(text, str(p))


def _describe(error: Any) -> str:
    kind = error.get("type", "")
    loc = error.get("loc", ())
    name = str(loc[-1]) if loc else "value"
    if kind == "extra_forbidden":
        return f"unknown key {name!r}"
    if kind == "missing":
        return f"missing required key {name!r}"
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    where = ".".join(str(part) for part in loc)
    return f"{where}: {message}" if where else message


def _clean_loc(loc: Sequence[Any]) -> Loc:
    """Drop the tags pydantic adds for unions and functional validators so the loc matches the file."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            out.append(part)
        elif isinstance(part, str) and not (part.startswith("function-") or "[" in part or part in {
                "tagged-union", "union"}):
            out.append(part)
    return tuple(out)


def validate(document: PositionedDocument, model: type[M],
             checks: Sequence[Callable[[M, PositionedDocument], list[ConfigIssue]]] = (),
             context: dict[str, Any] | None = None) -> M:
    """Validate a parsed document into `model`, then run cross-field `checks`; raise ConfigError with every
    problem located in the file."""
    if document.data is None:
        raise ConfigError([ConfigIssue(document.path, 1, 1, "the file is empty")])
    try:
        result = model.model_validate(document.data, context=context)
    except pydantic.ValidationError as exc:
        issues = []
        for error in exc.errors(include_url=False):
            loc = _clean_loc(error.get("loc", ()))
            # a missing key is reported at the mapping that should contain it
            at = loc[:-1] if error.get("type") == "missing" else loc
            issues.append(document.issue(at, _describe({**error, "loc": loc})))
        raise ConfigError(sorted(issues, key=lambda i: (i.line, i.column))) from None
    problems = [issue for check in checks for issue in check(result, document)]
    if problems:
        raise ConfigError(sorted(problems, key=lambda i: (i.line, i.column)))
    return result


def load(path: str | Path, model: type[M],
         checks: Sequence[Callable[[M, PositionedDocument], list[ConfigIssue]]] = (),
         context: dict[str, Any] | None = None) -> M:
    return validate(read_yaml(path), model, checks, context)
