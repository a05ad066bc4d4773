"""Who owns a native CRM field that people also edit: the one decision every connector takes before it
writes HubSpot's `lifecyclestage` or lead status, Salesforce's Lead `Rating` or `Status`, or Pipedrive's
person labels.

Sales reps set these by hand every day. A sync that overwrites a rep's "Hot" with its own "cold" loses the
rep's knowledge and their trust, so writing them is a policy an admin chooses per field, not a default:

- `always`: crmsync owns the field and writes it whenever its decision changes;
- `unless_changed_by_person`: crmsync writes only while the CRM holds nothing or holds the value crmsync
  itself wrote last; once a person put something else there, the person's value stays;
- `never`: crmsync never writes it (it still reads it).

crmsync's own custom fields default to `always`, native fields to `unless_changed_by_person`.

The decision needs the CRM's current value. When the engine does not know it (an outbox replay after a
crash, a push before any pull, a retry after the CRM refused a batch) the connector reads it first, one
batch read per batch: `FieldUpdate.crm_values` says which values are known.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.contract import FieldUpdate


class Ownership(enum.StrEnum):
    ALWAYS = "always"
    UNLESS_CHANGED_BY_PERSON = "unless_changed_by_person"
    NEVER = "never"


class Verdict(enum.StrEnum):
    WRITE = "write"
    KEEP_PERSON_VALUE = "kept_person_value"  # a person set another value: theirs stays
    NOT_OWNED = "not_owned"  # the policy is `never`
    UNCHANGED = "unchanged"  # the CRM already holds the target


@dataclass(frozen=True, slots=True)
class NativeField:
    """A native field a connector may write: its CRM name and the default policy for it."""

    name: str
    default: Ownership = Ownership.UNLESS_CHANGED_BY_PERSON


def policy_for(name: str, overrides: Mapping[str, Ownership], default: Ownership) -> Ownership:
    """The admin's setting for this field, else the connector's default for it."""
    return overrides.get(name, default)


def needs_current_value(policy: Ownership) -> bool:
    """Whether deciding needs the CRM's current value (so an unknown one must be read first)."""
    return policy is Ownership.UNLESS_CHANGED_BY_PERSON


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def decide(policy: Ownership, *, target: Any, current: Any, last_written: Any,
           same: Callable[[Any, Any], bool] | None = None) -> Verdict:
    """Whether to write `target` into a native field that holds `current`, where crmsync last wrote
    `last_written` (None: never wrote it). Values are the CRM's own (native) values; `same` compares two of
    them the way the CRM does (case-insensitive picklists, label sets in any order...). `current` must be
    known: read it first when it is not (`needs_current_value`)."""
    equal = same or (lambda first, second: first == second)
    if policy is Ownership.NEVER:
        return Verdict.NOT_OWNED
    if not _blank(current) and not _blank(target) and equal(current, target):
        return Verdict.UNCHANGED
    if policy is Ownership.ALWAYS or _blank(current):
        return Verdict.WRITE
    if last_written is not None and not _blank(last_written) and equal(current, last_written):
        return Verdict.WRITE
    return Verdict.KEEP_PERSON_VALUE


def unknown_names(updates: list[FieldUpdate], wanted: Callable[[FieldUpdate], list[str]]) -> dict[str, list[str]]:
    """Per contact id, the native field names a batch must read before it can decide: those `wanted` names
    for the update that its `crm_values` does not hold. Empty when nothing must be read."""
    missing: dict[str, list[str]] = {}
    for update in updates:
        names = [name for name in wanted(update) if name not in update.crm_values]
        if names:
            missing[update.contact_id] = names
    return missing
