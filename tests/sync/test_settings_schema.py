"""The published settings schema describes each connector's `settings:` block, option by option, and the
settings files crmsync ships pass it the way an editor checks them."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from sync.registry import SANDBOX_CRMS, crm_kind
from sync.settings import json_schema


def options(schema: dict[str, Any], name: str, seen: set[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every option of a definition, nested models' options included, as (dotted path, schema)."""
    seen = seen if seen is not None else set()
    found = []
    for key, option in schema["$defs"][name].get("properties", {}).items():
        found.append((f"{name}.{key}", option))
        for ref in _refs(option):
            target = ref.rsplit("/", 1)[-1]
            if target not in seen and "properties" in schema["$defs"][target] and target != "SecretReference":
                seen.add(target)
                found += options(schema, target, seen)
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


@pytest.mark.parametrize("crm", SANDBOX_CRMS)
def test_every_connector_option_has_a_description_and_an_example(crm):
    schema = json_schema()
    model = crm_kind(crm).settings_model().__name__
    listed = options(schema, model)
    assert len(listed) > 20
    undocumented = [path for path, option in listed if not option.get("description") or "examples" not in option]
    assert undocumented == []


def test_what_every_crm_has_is_one_option_worded_once():
    """The account's own words for seniority and recurring deals are one option under one name in every
    connector; the stage map, recurring field and stage override keep each CRM's name but one wording."""
    schema = json_schema()
    described = {crm: dict(options(schema, crm_kind(crm).settings_model().__name__)) for crm in SANDBOX_CRMS}
    for name in ("seniority_values", "recurring_values"):
        wordings = {described[crm][f"{crm_kind(crm).settings_model().__name__}.{name}"]["description"]
                    for crm in SANDBOX_CRMS}
        assert len(wordings) == 1, name
    stage_maps = [option["description"] for crm in SANDBOX_CRMS for path, option in described[crm].items()
                  if "one of the canonical pipeline stages (first_contact, discovery" in option["description"]]
    assert len(stage_maps) == len(SANDBOX_CRMS)
    recurring = [option["description"] for options_ in described.values() for option in options_.values()
                 if "that says whether a deal recurs:" in option["description"]]
    assert len(recurring) == len(SANDBOX_CRMS)


@pytest.mark.parametrize("crm", SANDBOX_CRMS)
def test_an_account_block_is_checked_against_its_connector(crm):
    validator = jsonschema.Draft202012Validator(json_schema())
    account = {"name": "acme", "crm": crm, "settings": {"no_such_option": 1}}
    problems = [error.message for error in validator.iter_errors({"accounts": [account]})]
    assert any("no_such_option" in message for message in problems)
    defaults = {"accounts": [{"name": "acme", "crm": crm}], "crm_defaults": {crm: {"timeout_s": "soon"}}}
    assert list(validator.iter_errors(defaults))


def test_a_secret_is_a_reference_never_an_inline_value():
    validator = jsonschema.Draft202012Validator(json_schema())
    inline = {"accounts": [{"name": "hs", "crm": "hubspot", "settings": {"access_token": "pat-na1-inline"}}]}
    referenced = {"accounts": [{"name": "hs", "crm": "hubspot", "settings": {"access_token": {"env": "TOKEN"}}}]}
    assert list(validator.iter_errors(inline)) and not list(validator.iter_errors(referenced))


@pytest.mark.parametrize("name", ["crmsync.yaml", "crmsync.example.yaml"])
def test_the_shipped_settings_files_pass_the_published_schema(name):
    shipped = json.loads(resources.files("sync.defaults").joinpath("crmsync.schema.json").read_text())
    document = yaml.safe_load(resources.files("sync.defaults").joinpath(name).read_text())
    assert [error.message for error in jsonschema.Draft202012Validator(shipped).iter_errors(document)] == []
