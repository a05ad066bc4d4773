"""Qualification frameworks (BANT, MEDDIC, GPCT): named criteria, each a condition, and the set required.

All criteria of the chosen framework are evaluated and reported (budget is
reported under BANT even though the seed does not require it); the framework
is met when every required criterion is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.rules import schema as s
from sync.rules.conditions import Compiler, Ctx, Predicate


@dataclass(frozen=True, slots=True)
class CompiledFramework:
    name: str
    criteria: tuple[tuple[str, Predicate], ...]
    required: frozenset[str]
    required_order: tuple[str, ...]

    def evaluate(self, ctx: Ctx) -> tuple[tuple[str, ...], bool]:
        """(criteria met, in file order; whether all required ones are)."""
        met = tuple([name for name, pred in self.criteria if pred(ctx)])
        return met, self.required.issubset(met)

    def is_met(self, ctx: Ctx) -> bool:
        for name, pred in self.criteria:
            if name in self.required and not pred(ctx):
                return False
        return True

    def is_met_with(self, ctx: Ctx, static: tuple[bool, ...], known: list[Any]) -> bool:
        """`is_met`, reading the criteria flagged static from `known` (their value for this contact)."""
        required = self.required
        for i, (name, pred) in enumerate(self.criteria):
            if name in required and not (known[i] if static[i] else pred(ctx)):
                return False
        return True

    def missing(self, met: tuple[str, ...]) -> tuple[str, ...]:
        return tuple([name for name in self.required_order if name not in met])


def compile_framework(q: s.Qualification, compiler: Compiler) -> CompiledFramework:
    spec: s.Framework | None = getattr(q, q.framework)
    assert spec is not None  # checked at load
    required = tuple(spec.required if spec.required is not None else s.FRAMEWORK_REQUIRED[q.framework])
    criteria = tuple((name, compiler.compile(cond)) for name, cond in spec.criteria.items())
    return CompiledFramework(q.framework, criteria, frozenset(required), required)


__all__ = ["CompiledFramework", "compile_framework"]
