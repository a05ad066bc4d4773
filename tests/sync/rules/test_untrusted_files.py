"""Whatever a rules file holds, loading it ends in compiled rules or located messages, never a traceback; and no
regular expression in it can make the engine run longer than linear time."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.errors import ConfigError
from sync.model import Contact
from sync.rules import default_rules_path, rules_from_text

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
SHIPPED = default_rules_path().read_text(encoding="utf-8")
PIECES = list("abz019 :-[]{},&*!|>'\"#\n\t\\?%@`~") + [
    "scoring", "fit", "cap", "rules", "when", "ref", "not", "all", "any", "field", "matches", "points", "<<",
    "conditions", "sla", "2026-02-30", "true", "&x", "*x", "(a+)+$", "\u00e9", "\ufeff", "\n  ", "\n    - "]
YAMLISH = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)


def loads_or_explains(text: str) -> None:
    try:
        rules_from_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert str(issue).startswith("fuzz.yaml:") and issue.line >= 1 and issue.column >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAMLISH)
def test_any_text_is_rules_or_located_messages(text: str) -> None:
    loads_or_explains(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32), cuts=st.integers(min_value=1, max_value=6))
def test_the_shipped_rules_damaged_anywhere_are_rules_or_located_messages(seed: int, cuts: int) -> None:
    """What an editor leaves after a bad paste: pieces of the real file deleted, duplicated or swapped."""
    rng = random.Random(seed)
    text = SHIPPED
    for _ in range(cuts):
        start = rng.randrange(len(text))
        end = min(len(text), start + rng.randrange(1, 200))
        action = rng.randrange(3)
        if action == 0:
            text = text[:start] + text[end:]
        elif action == 1:
            text = text[:start] + text[start:end] * 2 + text[end:]
        else:
            other = rng.randrange(len(text))
            text = text[:other] + text[start:end] + text[other:]
    loads_or_explains(text)


def regex_rules(pattern: str) -> str:
    return SHIPPED.replace('      - name: target_country\n',
                           f'      - name: pathological\n        when: {{field: job_title, matches: "{pattern}"}}\n'
                           '        points: 1\n      - name: target_country\n', 1)


def test_a_catastrophic_pattern_runs_in_linear_time_on_a_long_title() -> None:
    """Backtracking engines take minutes on these (the second: 70 s on 28 characters); RE2 takes microseconds.
    A regression would hang this test until pytest-timeout stops it."""
    nested = rules_from_text(regex_rules("(a+)+$"))
    decision = nested.evaluate(Contact(crm="t", id="1", job_title="a" * 4000 + "!"), NOW)
    assert "pathological" not in {rule.name for rule in decision.fired}
    words = rules_from_text(regex_rules("^(\\\\w+\\\\s?)+$"))
    decision = words.evaluate(Contact(crm="t", id="2", job_title="aaaaaaaaaaaaaaaaaaaaaaaaaaa!"), NOW)
    assert "pathological" not in {rule.name for rule in decision.fired}
    decision = words.evaluate(Contact(crm="t", id="3", job_title="Head of Security"), NOW)
    assert "pathological" in {rule.name for rule in decision.fired}
