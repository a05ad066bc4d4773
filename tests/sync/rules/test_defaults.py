"""The shipped rules: installed as package data, valid, their schema current, their own cases passing."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from sync.cli.rules import schema_text
from sync.configfile import parse_yaml
from sync.rules import default_rules_path, load_rules, rules_from_text
from sync.rules.cases import load_cases, run_cases

DEFAULTS = resources.files("sync.defaults")


def test_default_rules_ship_in_the_package(rules) -> None:
    assert default_rules_path().is_file()
    assert rules.framework.name == "bant"
    assert rules.threshold == 70
    assert len(rules.version) == 12


def test_default_rules_point_editors_at_their_schema() -> None:
    first = DEFAULTS.joinpath("rules.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./rules.schema.json"


def test_committed_schema_is_current() -> None:
    """Fails when the pydantic models change without `crmsync rules schema -o config/rules.schema.json`."""
    committed = DEFAULTS.joinpath("rules.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "config/rules.schema.json is stale: run crmsync rules schema -o ..."
    assert json.loads(committed)["title"] == "crmsync rules"


def test_shipped_cases_pass(rules) -> None:
    loaded = load_cases(str(DEFAULTS.joinpath("rules.cases.yaml")))
    names = [item.case.name for item in loaded]
    assert sum(name.startswith("seed ") for name in names) == 4
    failures = {r.name: (r.error, r.mismatches) for r in run_cases(rules, loaded) if not r.ok}
    assert failures == {}


def test_version_ignores_comments_whitespace_order_and_spelled_out_defaults() -> None:
    text = default_rules_path().read_text(encoding="utf-8")
    base = rules_from_text(text).version
    reformatted = "# another comment\n\n" + text.replace("threshold: 70", "threshold:    70   # same")
    assert rules_from_text(reformatted).version == base
    assert rules_from_text(text.replace("  enabled: true\n", "")).version == base  # true is the default


def test_version_changes_with_any_value() -> None:
    text = default_rules_path().read_text(encoding="utf-8")
    assert rules_from_text(text.replace("threshold: 70", "threshold: 71")).version != load_rules(None).version


@pytest.mark.parametrize("name", ["rules.yaml", "rules.cases.yaml"])
def test_shipped_files_parse(name: str) -> None:
    assert parse_yaml(DEFAULTS.joinpath(name).read_text(encoding="utf-8"), name).data
