"""Qualification frameworks (BANT, MEDDIC, GPCT): named criteria, each a condition, and the set required.

All criteria of the chosen framework are evaluated and reported (budget is
reported under BANT even though a lead may qualify while its budget is still being framed); the framework
is met when every required criterion is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.rules import schema
from sync.rules.conditions import Compiler
from sync.rules.context import Context, Predicate


@dataclass(frozen=True, slots=True)
class CompiledFramework:
    name: str
    criteria: tuple[tuple[str, Predicate], ...]
    required: frozenset[str]
    required_order: tuple[str, ...]

    def evaluate(self, context: Context) -> tuple[tuple[str, ...], bool]:
        """(criteria met, in file order; whether all required ones are)."""
        met = tuple([name for name, test in self.criteria if test(context)])
        return met, self.required.issubset(met)

    def is_met(self, context: Context) -> bool:
        for name, test in self.criteria:
            if name in self.required and not test(context):
                return False
        return True

    def is_met_with(self, context: Context, static: tuple[bool, ...], known: list[Any]) -> bool:
        """`is_met`, reading the criteria flagged static from `known` (their value for this contact)."""
        required = self.required
        for index, (name, test) in enumerate(self.criteria):
            if name in required and not (known[index] if static[index] else test(context)):
                return False
        return True

    def missing(self, met: tuple[str, ...]) -> tuple[str, ...]:
        return tuple([name for name in self.required_order if name not in met])


def compile_framework(qualification: schema.Qualification, compiler: Compiler) -> CompiledFramework:
    spec: schema.Framework | None = getattr(qualification, qualification.framework)
    assert spec is not None  # checked at load
    required = tuple(spec.required if spec.required is not None else schema.FRAMEWORK_REQUIRED[qualification.framework])
    criteria = tuple((name, compiler.compile(condition)) for name, condition in spec.criteria.items())
    return CompiledFramework(qualification.framework, criteria, frozenset(required), required)


__all__ = ["CompiledFramework", "compile_framework"]
