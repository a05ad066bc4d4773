"""The impact of a rules change before it is published: both versions evaluate the same contacts.

Reports the stage transition matrix (old stage -> new stage counts), the
distribution of score shifts, and the contacts that change stage. Contacts are
streamed, so a large export never sits in memory; only the changed contacts
are kept, up to a limit.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.model import Contact, Stage
from sync.rules.engine import CompiledRules, InvalidContact

STAGES = tuple(Stage)
# score shift buckets: (label, low, high) inclusive
SHIFT_BUCKETS = (("<= -20", -100, -20), ("-19..-10", -19, -10), ("-9..-1", -9, -1), ("0", 0, 0),
                 ("+1..+9", 1, 9), ("+10..+19", 10, 19), (">= +20", 20, 100))


@dataclass
class StageChange:
    contact_id: str
    old_stage: str
    new_stage: str
    old_score: int
    new_score: int


@dataclass
class RulesDiff:
    old_version: str
    new_version: str
    contacts: int = 0
    errors: list[str] = field(default_factory=list)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    shifts: Counter[str] = field(default_factory=Counter)
    shift_values: list[int] = field(default_factory=list)
    changes: list[StageChange] = field(default_factory=list)
    changed: int = 0

    def summary(self) -> dict[str, Any]:
        values = self.shift_values or [0]
        return {
            "old_version": self.old_version, "new_version": self.new_version, "contacts": self.contacts,
            "errors": self.errors, "changed_stage": self.changed,
            "transitions": [{"from": old, "to": new, "count": count}
                            for (old, new), count in sorted(self.transitions.items())],
            "score_shift": {"buckets": {label: self.shifts.get(label, 0) for label, _, _ in SHIFT_BUCKETS},
                            "mean": round(statistics.fmean(values), 2), "median": statistics.median(values),
                            "min": min(values), "max": max(values)},
            "stage_changes": [vars(change) for change in self.changes],
        }


def diff_rules(old: CompiledRules, new: CompiledRules, contacts: Iterable[Contact | str], now: datetime,
               limit: int = 50) -> RulesDiff:
    """Evaluate `contacts` (or error strings from the reader) with both rules; keep `limit` stage changes."""
    result = RulesDiff(old.version, new.version)
    for contact in contacts:
        if isinstance(contact, str):
            result.errors.append(contact)
            continue
        try:
            before, after = old.evaluate(contact, now), new.evaluate(contact, now)
        except InvalidContact as exc:
            result.errors.append(str(exc))
            continue
        result.contacts += 1
        result.transitions[(str(before.stage), str(after.stage))] += 1
        shift = after.score - before.score
        result.shift_values.append(shift)
        for label, low, high in SHIFT_BUCKETS:
            if low <= shift <= high:
                result.shifts[label] += 1
                break
        if before.stage is not after.stage:
            result.changed += 1
            if len(result.changes) < limit:
                result.changes.append(StageChange(contact.id, str(before.stage), str(after.stage),
                                                  before.score, after.score))
    return result


def render(diff: RulesDiff) -> str:
    lines = [f"rules {diff.old_version} -> {diff.new_version}: {diff.contacts} contacts, "
             f"{diff.changed} change stage" + (f", {len(diff.errors)} unreadable" if diff.errors else "")]
    present = [stage.value for stage in STAGES if any(stage.value in pair for pair in diff.transitions)]
    lines.append("")
    lines.append("stage transitions (rows: old, columns: new)")
    width = max([len(stage) for stage in present] + [10]) + 2
    lines.append(" " * width + "".join(f"{stage:>{width}}" for stage in present))
    for old in present:
        lines.append(f"{old:<{width}}" + "".join(f"{diff.transitions.get((old, new), 0):>{width}}" for new in present))
    lines.append("")
    summary = diff.summary()["score_shift"]
    lines.append(f"score shift (new - old): mean {summary['mean']:+g}, median {summary['median']:+g}, "
                 f"min {summary['min']:+d}, max {summary['max']:+d}")
    peak = max(summary["buckets"].values()) or 1
    for label, count in summary["buckets"].items():
        lines.append(f"  {label:>9}  {count:>8}  {'#' * round(40 * count / peak)}")
    if diff.changes:
        lines.append("")
        lines.append(f"contacts that change stage (first {len(diff.changes)} of {diff.changed})")
        for change in diff.changes:
            lines.append(f"  {change.contact_id:<20} {change.old_stage:>12} -> {change.new_stage:<12} "
                         f"score {change.old_score} -> {change.new_score}")
    for error in diff.errors[:20]:
        lines.append(f"skipped: {error}")
    return "\n".join(lines)


__all__ = ["RulesDiff", "StageChange", "diff_rules", "render"]
