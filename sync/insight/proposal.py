"""A proposed rules file: the admin's file with only the scoring rules' points (and the per-event caps that go
with them) changed, every comment, blank line, quote and key order kept.

ruamel's round-trip parser locates each rule's `points` value (line and column); the new number is spliced
into the original text at exactly that place, so re-emitting the YAML can never reflow a long list or
re-indent a block: the diff a reviewer reads shows the numbers that change and nothing else.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

DIMENSIONS = ("fit", "engagement", "intent")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A scoring rule as the admin wrote it: where its numbers are in the file."""

    name: str
    dimension: str
    points: float
    per_event: bool
    max_points: float | None
    points_at: tuple[int, int]  # (line, column), 0-based
    max_points_at: tuple[int, int] | None


def _at(node: Any, key: str) -> tuple[int, int]:
    line, column = node.lc.value(key)
    return int(line), int(column)


def read_rule_specs(text: str) -> dict[str, RuleSpec]:
    """The scoring rules of a rules file by name (in file order)."""
    data = YAML(typ="rt").load(text)
    out: dict[str, RuleSpec] = {}
    scoring = (data or {}).get("scoring") or {}
    for dimension in DIMENSIONS:
        for rule in ((scoring.get(dimension) or {}).get("rules") or []):
            if "points" not in rule or "name" not in rule:
                continue
            has_cap = rule.get("max_points") is not None
            out[str(rule["name"])] = RuleSpec(
                name=str(rule["name"]), dimension=dimension, points=float(rule["points"]),
                per_event="per_event" in rule, max_points=float(rule["max_points"]) if has_cap else None,
                points_at=_at(rule, "points"), max_points_at=_at(rule, "max_points") if has_cap else None)
    return out


def format_points(value: float, like: float) -> str:
    """Integers stay integers; a rule written with a fraction keeps halves."""
    if float(like).is_integer() and float(value).is_integer():
        return str(int(value))
    return f"{value:g}"


def _splice(lines: list[str], at: tuple[int, int], text: str) -> None:
    line, column = at
    match = _NUMBER.match(lines[line], column)
    if match is None:
        raise ValueError(f"line {line + 1}: no number at column {column + 1} to replace")
    lines[line] = lines[line][:column] + text + lines[line][match.end():]


def propose(text: str, points: dict[str, float], max_points: dict[str, float] | None = None) -> str:
    """`text` with the points (and per-event caps) of the named rules replaced."""
    specs = read_rule_specs(text)
    lines = text.splitlines(keepends=True)
    # splice right to left within a line so earlier columns stay valid (a flow-style rule on one line)
    edits: list[tuple[tuple[int, int], str]] = []
    for name, value in points.items():
        spec = specs[name]
        edits.append((spec.points_at, format_points(value, spec.points)))
        cap = (max_points or {}).get(name)
        if cap is not None and spec.max_points_at is not None and spec.max_points is not None:
            edits.append((spec.max_points_at, format_points(cap, spec.max_points)))
    for at, new in sorted(edits, reverse=True):
        _splice(lines, at, new)
    return "".join(lines)


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=old_name, tofile=new_name))


def write_proposal(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


__all__ = ["RuleSpec", "format_points", "propose", "read_rule_specs", "unified_diff", "write_proposal"]
