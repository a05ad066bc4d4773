from __future__ import annotations

import pydantic
import pytest

from sync.configfile import parse_yaml, validate
from sync.errors import ConfigError


class Rule(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    points: int


class RulesFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    rules: list[Rule]
    threshold: int = 70


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(parse_yaml(text, "r.yaml"), RulesFile)
    return [str(i) for i in info.value.issues]


def test_every_schema_error_is_located_at_its_key():
    text = "rules:\n  - name: a\n    points: x\n  - name: b\n    pointz: 3\n"
    assert problems(text) == [
        "r.yaml:3:5: rules.0.points: Input should be a valid integer, unable to parse string as an integer",
        "r.yaml:4:5: missing required key 'points'",
        "r.yaml:5:5: unknown key 'pointz'",
    ]


def test_syntax_errors_and_duplicate_keys_carry_line_and_column():
    assert problems("rules: [\n")[0].startswith("r.yaml:2:1: YAML syntax error")
    assert problems("threshold: 1\nthreshold: 2\nrules: []\n")[0].startswith("r.yaml:2:1: YAML syntax error")


def test_empty_file_is_an_error_not_a_crash():
    assert problems("") == ["r.yaml:1:1: the file is empty"]
