"""Admin-edited YAML, loaded with the position of every key, validated into typed pydantic objects.

Every problem comes back as `PATH:LINE:COL: message`, pointing at the offending
key (or, for a missing key, at the mapping that lacks it), whether it is a YAML
syntax error, a duplicate key, a schema error or a cross-field check. All
problems are collected, not just the first, so an admin fixes a file in one go.
Nothing in the file is ever evaluated.

A file comes from an admin's editor, a pull request or a config map, and the
daemon reloads it while it runs: whatever it holds, loading it takes bounded
time and memory and ends in a located message, never a traceback. A file is
read up to `MAX_BYTES`; its nesting is checked on the parser's event stream
(which does not recurse) as the node tree is built, up to `MAX_DEPTH`; aliases
may be reused, but the data they expand to is counted, up to `MAX_VALUES`
(a "billion laughs" file of 300 bytes expands to billions); a date that does
not exist (`2026-02-30`) stays text, for the schema to reject at its place.
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
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.parser import RoundTripParser

from sync.errors import ConfigError, ConfigIssue, UnreadableFile

M = TypeVar("M", bound=pydantic.BaseModel)
Loc = tuple[str | int, ...]

# 256 KiB: the shipped rules are 15 KB, settings smaller; a valid 1 MB rules file (9,000 rules) takes 20 s and
# 200 MB to load, and the daemon reloads rules while it runs. Larger is a mistake or an attack.
MAX_BYTES = 262_144
MAX_DEPTH = 64  # nested mappings and lists (the shipped files nest about 10 deep)
MAX_VALUES = 200_000  # keys, items and scalars once aliases are expanded


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


class _TooLarge(Exception):
    """The data an alias-laden document expands to passed MAX_VALUES (carries where)."""

    def __init__(self, loc: Loc) -> None:
        super().__init__(loc)
        self.loc = loc


class _Converter:
    """Turns ruamel's round-trip nodes into plain data, recording positions and counting what it builds."""

    def __init__(self, positions: dict[Loc, tuple[int, int]]) -> None:
        self.positions = positions
        self.budget = MAX_VALUES

    def plain(self, node: Any, loc: Loc) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge(loc)
        if len(loc) > MAX_DEPTH:  # reachable only through aliases: the parser checked the written nesting
            raise _TooLarge(loc)
        positions = self.positions
        if isinstance(node, CommentedMap):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                child = (*loc, str(key))
                try:
                    line, col = node.lc.key(key)
                    positions[child] = (line + 1, col + 1)
                except (KeyError, TypeError, AttributeError):
                    positions[child] = positions.get(loc, (1, 1))
                out[str(key) if not isinstance(key, (str, int, float, bool)) else key] = self.plain(value, child)
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
                items.append(self.plain(value, child))
            return items
        return _scalar(node)


def _scalar(node: Any) -> Any:
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


class _Constructor(RoundTripConstructor):
    """Round-trip construction, except that a timestamp that does not exist (2026-02-30) stays text: the
    schema then rejects it at its own line, where ruamel would raise a bare ValueError."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except (ValueError, OverflowError):
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


class _TooDeep(Exception):
    """The written nesting passed MAX_DEPTH (carries the mark of the collection that did)."""

    def __init__(self, mark: Any) -> None:
        super().__init__(mark)
        self.mark = mark


class _NestingLimitedParser(RoundTripParser):
    """The round-trip parser (an iterative state machine), counting open collections as the composer takes
    each event: a document nested deeper than MAX_DEPTH is refused before the composer, which recurses once
    per level, goes deeper. One pass over the text: no separate parse just to check the depth."""

    depth = 0

    def get_event(self) -> Any:
        event = super().get_event()
        if isinstance(event, CollectionStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _TooDeep(event.start_mark)
        elif isinstance(event, CollectionEndEvent):
            self.depth -= 1
        return event


def parse_yaml(text: str, path: str, max_length: int = MAX_BYTES) -> PositionedDocument:
    """Parse YAML text; syntax errors, duplicate keys and the limits above raise ConfigError with a position."""
    if len(text) > max_length:
        raise ConfigError([ConfigIssue(path, 1, 1, f"the text is longer than {max_length:,} characters, the most "
                                                   "crmsync reads (this kind of file is a few KB)")])
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Constructor = _Constructor
    yaml.Parser = _NestingLimitedParser
    try:
        root = yaml.load(text)
    except _TooDeep as exc:
        raise ConfigError([ConfigIssue(path, exc.mark.line + 1, exc.mark.column + 1,
                                       f"nested more than {MAX_DEPTH} levels deep")]) from None
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
    except Exception as exc:  # noqa: BLE001 - ruamel's own faults (NotImplementedError on some comment layouts,
        # ValueError on values it cannot construct): the admin gets a message, never a traceback
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        detail = str(exc).splitlines()[0][:200] if isinstance(exc, (ValueError, OverflowError)) and str(exc) else \
            f"the YAML parser could not read this layout ({type(exc).__name__}); check the indentation around " \
            "comments and blank lines"
        raise ConfigError([ConfigIssue(path, line, col, f"YAML error: {detail}")]) from None
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    try:
        data = _Converter(positions).plain(root, ())
    except _TooLarge as exc:
        line, col = PositionedDocument(path, None, positions).locate(exc.loc)
        raise ConfigError([ConfigIssue(path, line, col, f"aliases expand to more than {MAX_VALUES:,} values or "
                                                        f"{MAX_DEPTH} levels (each use of an alias copies what it "
                                                        "names)")]) from None
    return PositionedDocument(path=path, data=data, positions=positions)


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """A UTF-8 text file of at most `max_bytes`. UnreadableFile when there is nothing to read (missing, a
    folder, no permission); ConfigError, located where it can be, when what is there is too large or not
    UTF-8: the admin fixes the file, not the path."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise UnreadableFile([ConfigIssue(str(file), 1, 1, "file not found")]) from None
    except IsADirectoryError:
        raise UnreadableFile([ConfigIssue(str(file), 1, 1, "is a folder, not a file")]) from None
    except OSError as exc:
        raise UnreadableFile([ConfigIssue(str(file), 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    if len(raw) > max_bytes:
        raise ConfigError([ConfigIssue(str(file), 1, 1, f"the file is larger than {max_bytes:,} bytes, the most "
                                                     "crmsync reads (this kind of file is a few KB)")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = text_position(raw, exc.start)
        raise ConfigError([ConfigIssue(str(file), line, col, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
                          ) from None


def text_position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a byte offset."""
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def read_yaml(path: str | Path, max_bytes: int = MAX_BYTES) -> PositionedDocument:
    return parse_yaml(read_text(path, max_bytes), str(Path(path)), max_bytes)


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
        elif isinstance(part, str) and not (part.startswith(("function-", "constrained-")) or "[" in part or part in {
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
        raise ConfigError(sorted(issues, key=lambda issue: (issue.line, issue.column))) from None
    problems = [issue for check in checks for issue in check(result, document)]
    if problems:
        raise ConfigError(sorted(problems, key=lambda issue: (issue.line, issue.column)))
    return result


def load(path: str | Path, model: type[M],
         checks: Sequence[Callable[[M, PositionedDocument], list[ConfigIssue]]] = (),
         context: dict[str, Any] | None = None) -> M:
    return validate(read_yaml(path), model, checks, context)
