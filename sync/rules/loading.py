"""Reading a rules file: its location, validation with every problem located (typos given a suggestion), and
the content hash that names a version of the rules. The compiled evaluators are in engine.py."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from sync.configfile import PositionedDocument, validate
from sync.errors import ConfigError, ConfigIssue
from sync.rules import schema
from sync.rules.checks import CHECKS


def default_rules_path() -> Path:
    """The shipped default rules (config/rules.yaml, installed as package data sync.defaults)."""
    return Path(str(resources.files("sync.defaults").joinpath("rules.yaml")))


def rules_version(spec: schema.RulesFile) -> str:
    """Content hash of the rules' meaning: the validated model with defaults filled in, as canonical JSON.

    Comments, whitespace, key order and spelling out a default do not change it; any change of a value
    does. 12 hex digits of SHA-256: short enough for a CRM field, long enough never to collide in practice. The SLA reminder settings are
    left out: they change what crmsync writes as tasks, never a decision.
    """
    # the SLA reminders decide nothing about a contact: turning them on must not rescore (and rewrite) everyone
    meaning = spec.model_dump(mode="json", by_alias=True, exclude={"sla": {"reminder"}})
    canonical = json.dumps(meaning, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def parse_rules(document: PositionedDocument) -> schema.RulesFile:
    """Validate a parsed rules document; ConfigError with every problem located, typos given a suggestion."""
    try:
        return validate(document, schema.RulesFile, checks=CHECKS)
    except ConfigError as exc:
        raise ConfigError([_suggest(issue) for issue in exc.issues]) from None


def _known_keys() -> frozenset[str]:
    keys: set[str] = set()
    models: list[type[BaseModel]] = [schema.RulesFile]
    seen: set[type[BaseModel]] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
            models.extend(_model_args(info.annotation))
    return frozenset(keys)


def _model_args(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _model_args(arg)


_UNKNOWN_KEY = re.compile(r"^unknown key '([^']*)'$")


def _suggest(issue: ConfigIssue) -> ConfigIssue:
    """`unknown key 'equals'` -> `unknown key 'equals' (did you mean 'eq'?)` when a known key is close."""
    match = _UNKNOWN_KEY.match(issue.message)
    if not match:
        return issue
    key = match.group(1)
    guess = _SYNONYMS.get(key.lower())
    if guess is None:
        close = difflib.get_close_matches(key, sorted(_KNOWN_KEYS), n=1, cutoff=0.8)
        guess = close[0] if close else None
    if guess is None:
        return issue
    return ConfigIssue(issue.path, issue.line, issue.column, f"{issue.message} (did you mean {guess!r}?)")


# operator spellings admins reach for first; a close-spelling guess would mislead here (equals -> deals)
_SYNONYMS = {
    "equals": "eq", "equal": "eq", "is": "eq", "==": "eq", "not_equals": "ne", "not_equal": "ne", "!=": "ne",
    "is_not": "ne", "one_of": "in", "any_of": "in", "none_of": "not_in", "regex": "matches", "match": "matches",
    "pattern": "matches", "includes": "contains", "min": "gte", "max": "lte", "greater_than": "gt",
    "less_than": "lt", "at_least_days": "older_than_days", "last_days": "within_days", "and": "all", "or": "any",
}


_KNOWN_KEYS = _known_keys()


__all__ = ["default_rules_path", "parse_rules", "rules_version"]
