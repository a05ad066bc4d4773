"""Named conditions referring to one another (`{ref: name}`), checked without recursing through them.

A rules file can chain references as deep, or make them loop, as its author
likes: 5,000 conditions each referring to the next is a 100 KB file. The
engine compiles and evaluates conditions recursively, so such a file must be
refused at load with a located message, never met with a RecursionError. The
checks here walk the reference graph with explicit stacks: loops, how deep a
condition nests once the conditions it refers to are counted, and which named
conditions test a score (which scoring rules cannot use), and how many tests a
condition can take to evaluate once references are followed (two references to
a condition that makes two references... doubles at each step).
"""

from __future__ import annotations

from collections.abc import Iterator

from sync.rules import schema

MAX_CONDITION_DEPTH = 64  # nested conditions, counting through the named ones a condition refers to
MAX_CONDITION_TESTS = 10_000  # tests one condition can take to evaluate, named ones counted each time used


def subconditions(condition: schema.AnyConditionModel) -> list[schema.AnyConditionModel]:
    if isinstance(condition, schema.AllCondition):
        return list(condition.all)
    if isinstance(condition, schema.AnyCondition):
        return list(condition.any)
    if isinstance(condition, schema.NotCondition):
        return [condition.not_]
    return []


def nodes(condition: schema.AnyConditionModel) -> Iterator[schema.AnyConditionModel]:
    """Every condition in a tree (the tree itself included), without recursion."""
    stack = [condition]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(subconditions(current))


def reference_graph(rules: schema.RulesFile) -> dict[str, list[str]]:
    """Each named condition -> the defined named conditions it refers to, in file order, each once."""
    graph: dict[str, list[str]] = {}
    for name, condition in rules.conditions.items():
        refs = [node.ref for node in nodes(condition) if isinstance(node, schema.RefCondition)]
        graph[name] = [ref for ref in dict.fromkeys(reversed(refs)) if ref in rules.conditions]
    return graph


def find_cycles(graph: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """Every loop of references once, as `a -> b -> a`, found from its first member in file order."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[tuple[str, ...]] = []
    seen: set[frozenset[str]] = set()
    for origin in graph:
        if state.get(origin):
            continue
        path: list[str] = [origin]
        pending: list[list[str]] = [list(reversed(graph[origin]))]
        state[origin] = 1
        while path:
            if not pending[-1]:
                state[path.pop()] = 2
                pending.pop()
                continue
            target = pending[-1].pop()
            mark = state.get(target)
            if mark == 1:
                loop = (*path[path.index(target):], target)
                members = frozenset(loop)
                if members not in seen:
                    seen.add(members)
                    cycles.append(loop)
            elif mark is None:
                state[target] = 1
                path.append(target)
                pending.append(list(reversed(graph[target])))
    return cycles


def _measure(condition: schema.AnyConditionModel, named: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(how deep a tree nests, how many tests evaluating it can take), a reference counting as what it names
    (measured already). Evaluation does not remember a named condition's answer, so a condition referring
    twice to one that refers twice to another... doubles at each step: the size is what bounds that."""
    deepest, size = 0, 0
    stack = [(condition, 1)]
    while stack:
        current, level = stack.pop()
        size += 1
        if isinstance(current, schema.RefCondition):
            depth, tests = named.get(current.ref, (0, 0))
            level += depth
            size = min(size + tests, MAX_CONDITION_TESTS + 1)
        deepest = max(deepest, level)
        stack.extend((part, level + 1) for part in subconditions(current))
    return deepest, size


def measure_named(rules: schema.RulesFile, graph: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    """(depth, size) of every named condition, references followed (the graph must have no loop)."""
    measured: dict[str, tuple[int, int]] = {}
    for origin in graph:
        if origin in measured:
            continue
        stack = [(origin, False)]
        while stack:
            name, expanded = stack.pop()
            if name in measured:
                continue
            if expanded:
                measured[name] = _measure(rules.conditions[name], measured)
                continue
            stack.append((name, True))
            stack.extend((ref, False) for ref in graph[name] if ref not in measured)
    return measured


def measure(condition: schema.AnyConditionModel, named: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(depth, size) of a condition, counting the named conditions it refers to."""
    return _measure(condition, named)


def score_testing(rules: schema.RulesFile, graph: dict[str, list[str]]) -> set[str]:
    """The named conditions that test a score, themselves or through those they refer to."""
    referred_by: dict[str, list[str]] = {name: [] for name in graph}
    for name, refs in graph.items():
        for ref in refs:
            referred_by[ref].append(name)
    found = {name for name, condition in rules.conditions.items()
             if any(isinstance(node, schema.ScoreCondition) for node in nodes(condition))}
    stack = list(found)
    while stack:
        for user in referred_by[stack.pop()]:
            if user not in found:
                found.add(user)
                stack.append(user)
    return found


__all__ = ["MAX_CONDITION_DEPTH", "MAX_CONDITION_TESTS", "find_cycles", "measure", "measure_named", "nodes",
           "reference_graph", "score_testing", "subconditions"]
