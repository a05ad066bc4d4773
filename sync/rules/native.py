"""The rules' hot conditions as programs for the C evaluator (sync/rules/_native.c), when it is installed.

The Python compiler (conditions.py, scoring.py) stays the definition of what a rule means: every node here
either reproduces one of its closures on the same data (a text in a set, a number in a range, events counted
in a window, activities filtered and counted, half-life points per event) or is that closure (OP_PY: date
windows, deals, scores, and whatever has no C node). Values the C fast path does not handle (text that is
not plain `str`, numbers given as text, lists...) go to a per-value Python test built from the same helpers.
So the C path is an accelerator with no semantics of its own, and the engine's tests compare both paths
Decision by Decision.

`CRMSYNC_NATIVE=0` turns it off at run time; without a C compiler at install it is simply absent.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable
from datetime import timezone
from typing import Any

from sync.rules import schema as s
from sync.rules.conditions import (DAY, TEXT_LIMIT, Compiler, _Equals, _as_list, _range_pred, _text_pred, getter,
                                   is_empty, to_number)
from sync.rules.decision import FiredRule
from sync.rules.qualification import CompiledFramework
from sync.rules.reasons import fixed_label
from sync.rules.scoring import DIMENSIONS, Scorer, round2

OP_PY, OP_ALL, OP_ANY, OP_NOT, OP_TEXT_IN, OP_VALUE, OP_EXISTS, OP_RANGE, OP_EVENTS, OP_ACTS = range(10)
GET_ATTR, GET_FIELD, GET_PY = range(3)
_BY = {"anyone": 0, "owner": 1, "sales": 2}
QUALIFY_ON = {"score_or_framework": 0, "score": 1, "framework": 2, "score_and_framework": 3}
_UTC = timezone.utc


def epoch(at: Any) -> float:
    """Epoch seconds of an event or activity time exactly as the interpreted engine computes them (naive is
    UTC); the C code calls it for every value it does not convert itself (other time zones, odd objects)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=_UTC)
    return float(at.timestamp())


def fold(text: str) -> str:
    """A text value as the case-insensitive comparisons see it."""
    return text[:TEXT_LIMIT].strip().casefold()


def native_module() -> Any | None:
    """The C module, configured; None when it is not built or CRMSYNC_NATIVE=0."""
    if os.environ.get("CRMSYNC_NATIVE", "1") == "0":
        return None
    try:
        module = importlib.import_module("sync.rules._native")
    except ImportError:
        return None
    module.configure(epoch, fold, round2)
    return module


class ProgramBuilder:
    """Turns condition models into node tuples (indices into one shared list), resolving refs once."""

    def __init__(self, compiler: Compiler) -> None:
        self.compiler = compiler
        self.nodes: list[tuple[Any, ...]] = []
        self._refs: dict[str, int] = {}

    def _add(self, node: tuple[Any, ...]) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def _python(self, cond: s.AnyConditionModel) -> int:
        return self._add((OP_PY, self.compiler.compile(cond)))

    def node(self, cond: s.AnyConditionModel) -> int:
        if isinstance(cond, s.RefCondition):
            if cond.ref not in self._refs:
                self._refs[cond.ref] = self.node(self.compiler.named[cond.ref])
            return self._refs[cond.ref]
        if isinstance(cond, s.NotCondition):
            return self._add((OP_NOT, self.node(cond.not_)))
        if isinstance(cond, s.AllCondition):
            return self._add((OP_ALL, tuple(self.node(c) for c in cond.all)))
        if isinstance(cond, s.AnyCondition):
            return self._add((OP_ANY, tuple(self.node(c) for c in cond.any)))
        if isinstance(cond, s.FieldCondition):
            return self._field(cond)
        if isinstance(cond, s.EventsCondition):
            q = cond.events
            keys = self.compiler.plan.event_keys(_as_list(q.type), _as_list(q.source))
            span = q.within_days * DAY if q.within_days else None
            return self._add((OP_EVENTS, tuple(keys), span, q.at_least, q.at_most))
        if isinstance(cond, s.ActivitiesCondition):
            a = cond.activities
            kinds = frozenset(str(k) for k in _as_list(a.kind) or ()) if a.kind is not None else None
            span = a.within_days * DAY if a.within_days else None
            return self._add((OP_ACTS, kinds, span, _BY[a.by], a.direction, frozenset(self.compiler.plan.team),
                              a.include_automated, a.include_open, a.at_least, a.at_most, None))
        return self._python(cond)  # deals, scores: the Python closures

    def _field(self, cond: s.FieldCondition) -> int:
        name, op = cond.field, cond.operators[0]
        if name.startswith("fields."):
            get: tuple[int, Any] = (GET_FIELD, name[len("fields."):])
        elif name == "email_domain" or "." in name:
            get = (GET_PY, getter(name))
        else:
            get = (GET_ATTR, name)
        if op in ("eq", "ne", "in", "not_in"):
            expected = [cond.eq] if op == "eq" else [cond.ne] if op == "ne" else list(cond.in_ or cond.not_in or [])
            equals = _Equals(expected, cond.case_sensitive)
            negate = op in ("ne", "not_in")
            if not equals.numbers and not equals.bools and not cond.case_sensitive:
                return self._add((OP_TEXT_IN, get, equals.texts, _text_in_value(equals), negate))
            return self._add((OP_VALUE, get, equals, negate))
        if op in ("contains", "matches"):
            return self._add((OP_VALUE, get, _text_pred(cond), False))
        if op == "exists":
            return self._add((OP_EXISTS, get, bool(cond.exists), is_empty))
        if op in ("within_days", "older_than_days"):
            return self._python(cond)  # reads the clock
        lo = cond.gt if cond.gt is not None else cond.gte
        hi = cond.lt if cond.lt is not None else cond.lte
        in_range = _range_pred(cond.gt, cond.gte, cond.lt, cond.lte)
        typed = name in s.NUMBER_FIELDS
        return self._add((OP_RANGE, get, lo, hi, cond.gt is not None, cond.lt is not None,
                          _range_value(in_range, typed)))


def _text_in_value(equals: _Equals) -> Callable[[Any], bool]:
    texts = equals.texts

    def test(value: Any) -> bool:
        if isinstance(value, str):
            return fold(value) in texts
        return equals(value)
    return test


def _range_value(in_range: Callable[[float], bool], typed: bool) -> Callable[[Any], bool]:
    """The per-value test of a range condition: a typed number attribute compares ints and floats as they
    are (conditions.compile_field's `attribute`), anything else goes through to_number."""
    def test(value: Any) -> bool:
        if typed and (value.__class__ is int or value.__class__ is float):
            return in_range(value)
        number = to_number(value)
        return number is not None and in_range(number)
    return test


class NativeRules:
    """What the engine calls per contact: the program, and the nodes of the disqualifiers and maturity bands.

    `statics`: per scoring rule, then per criterion, whether it reads neither the clock nor the scores (the
    engine's `Compiler.is_static` answers), so that the hand-off replays evaluate it once per contact."""

    def __init__(self, module: Any, spec: s.RulesFile, compiler: Compiler, scorers: tuple[Scorer, ...],
                 compiled_framework: CompiledFramework, statics: tuple[bool, ...]) -> None:
        builder = ProgramBuilder(compiler)
        plan = compiler.plan
        specs: list[tuple[Any, ...]] = []
        rules = [(index, dim, rule) for index, dim in enumerate(DIMENSIONS)
                 for rule in getattr(spec.scoring, dim).rules]
        assert len(rules) == len(scorers)
        for (index, dim, rule), scorer in zip(rules, scorers):
            if rule.when is not None:
                specs.append((index, builder.node(rule.when), scorer.points, scorer.fixed))
                continue
            q = rule.per_event
            assert q is not None and scorer.per_event is not None
            decay = getattr(spec.scoring, dim).decay
            keys = plan.event_keys(q.type if isinstance(q.type, list) else [q.type],
                                   None if q.source is None else q.source if isinstance(q.source, list)
                                   else [q.source])
            half_life = decay.half_life_days if decay is not None else None
            if half_life is not None and len(keys) == 1:
                span = q.within_days * DAY if q.within_days else None
                limit = rule.max_points if rule.max_points is not None else math.inf
                specs.append((index, -1, float(rule.points), None, keys[0], span, math.log(2) / (half_life * DAY),
                              float(limit), scorer.per_event, dim, rule.name))
            else:
                specs.append((index, -1, 0.0, None, None, None, 0.0, 0.0, scorer.per_event, dim, rule.name))
        framework = getattr(spec.qualification, spec.qualification.framework)
        criteria_nodes = tuple(builder.node(cond) for cond in framework.criteria.values())
        criteria_names = tuple(name for name, _ in compiled_framework.criteria)
        assert criteria_names == tuple(framework.criteria)
        c = spec.classification
        self.disqualify_nodes: tuple[int, ...] = tuple(builder.node(rule.when) for rule in c.disqualify)
        maturity = c.maturity
        self.hot_node: int = builder.node(maturity.hot) if maturity.hot is not None else -1
        self.warm_node: int = builder.node(maturity.warm) if maturity.warm is not None else -1
        # bucket keys of the by-type plan (the engine prepares C arrays only for that plan)
        self.keys: tuple[str, ...] = tuple(sorted(plan.types))
        self.key_index: dict[str, int] = {key: index for index, key in enumerate(self.keys)}
        self.program: Any = module.Program(tuple(builder.nodes), tuple(specs), FiredRule, self.key_index)
        # what turns the sums into a decision: the same caps, threshold, criteria and labels the engine and
        # the reason writer use on the Python path
        self.program.configure(
            tuple(float(getattr(spec.scoring, dim).cap) for dim in DIMENSIONS), spec.scoring.threshold,
            QUALIFY_ON[c.prospect.qualify_on], criteria_nodes, criteria_names,
            tuple(name in compiled_framework.required for name in criteria_names),
            tuple(fixed_label(sc.fixed) if sc.fixed is not None else None for sc in scorers), statics)
        self.python_per_event: bool = any(spec[1] == -1 and spec[4] is None for spec in specs)
        self.prepare: Any = module.prepare
        self.activity_rows: Any = module.activity_rows
        self.top_text: Any = self.program.top_text
        self.last_active: Any = module.last_active


def native_rules(spec: s.RulesFile, compiler: Compiler, scorers: tuple[Scorer, ...],
                 framework: CompiledFramework, statics: tuple[bool, ...],
                 enabled: bool | None = None) -> NativeRules | None:
    """The C evaluator for these rules; None when disabled or not installed (`enabled=None`: when available)."""
    if enabled is False:
        return None
    module = native_module()
    if module is None:
        if enabled:
            raise RuntimeError("the C rules evaluator (sync.rules._native) is not installed")
        return None
    return NativeRules(module, spec, compiler, scorers, framework, statics)


__all__ = ["NativeRules", "epoch", "fold", "native_module", "native_rules"]
