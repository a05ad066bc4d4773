"""The published JSON Schema of the settings file (`config/crmsync.schema.json`), generated from the pydantic
models so it can never drift from what the loader accepts.

Each account's `settings:` block, and each CRM's `crm_defaults:` entry, is described by that connector's own
settings model (found through `sync.registry`): an editor with the `yaml-language-server: $schema=` comment
checks every option, and shows its description and example (each connector option carries both, as
borgmatic's schema does for the sample configuration it generates). Two differences from the models, both
because of how the loader reads the block:
- a secret is written `{env: NAME}` or `{file: PATH}`, never inline (`SecretReference`);
- no option is required at the top of a block: `crm_defaults:` gives part of it, a sandbox account only its
  overrides, and the loader (not the editor) says what an account still lacks.
"""

from __future__ import annotations

from typing import Any

import pydantic

from sync.registry import SANDBOX_CRMS, crm_kind

SECRET_REFERENCE: dict[str, Any] = {
    "description": "a secret, never inline: {env: VARIABLE} (an environment variable) or {file: PATH} (a file, "
                   "relative paths from the settings file's folder)",
    "type": "object",
    "properties": {"env": {"type": "string", "minLength": 1}, "file": {"type": "string", "minLength": 1}},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "examples": [{"env": "HUBSPOT_TOKEN"}, {"file": "/run/secrets/salesforce_client_secret"}],
}
_KEPT = ("title", "description", "examples", "default")


def _is_secret(node: Any) -> bool:
    return isinstance(node, dict) and node.get("format") == "password" and node.get("writeOnly") is True


def _secrets_as_references(node: Any) -> Any:
    """Every `SecretStr` in a model's schema, as the reference form the loader resolves."""
    if _is_secret(node):
        return {"$ref": "#/$defs/SecretReference", **{key: node[key] for key in _KEPT if key in node}}
    if isinstance(node, dict):
        return {key: _secrets_as_references(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_secrets_as_references(value) for value in node]
    return node


def connector_block(model: type[pydantic.BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    """A reference to the schema of one connector's `settings:` block, its definitions added to `defs`."""
    block = _secrets_as_references(model.model_json_schema(mode="validation"))
    for name, definition in block.pop("$defs", {}).items():
        if defs.setdefault(name, definition) != definition:
            raise ValueError(f"two connectors define {name!r} differently: rename one of the models")
    block.pop("required", None)
    defs[model.__name__] = block
    return {"$ref": f"#/$defs/{model.__name__}"}


def settings_schema(file_model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The schema of the settings file whose top-level model is `file_model` (`sync.settings.SettingsFile`)."""
    schema = file_model.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    defs["SecretReference"] = SECRET_REFERENCE
    blocks = {crm: connector_block(crm_kind(crm).settings_model(), defs) for crm in SANDBOX_CRMS}
    defs["AccountFile"]["allOf"] = [
        {"if": {"properties": {"crm": {"const": crm}}, "required": ["crm"]},
         "then": {"properties": {"settings": block}}}
        for crm, block in blocks.items()
    ]
    schema["properties"]["crm_defaults"]["properties"] = blocks
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "crmsync settings"
    return schema
