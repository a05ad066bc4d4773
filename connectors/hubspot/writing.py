"""What one `FieldUpdate` writes to a HubSpot contact: crmsync's own properties, and the native
`lifecyclestage` and `hs_lead_status` its stage moves, each decided against what HubSpot holds now.

Values go as HubSpot strings ("CRM API | Properties": numbers "17", booleans "true"/"false", datetimes
epoch-ms, "" clears). Only values that differ from what crmsync last wrote (`previous`) are sent.

The native fields are people's as much as crmsync's. Each follows its ownership policy
(`sync.toolkit.ownership`, `settings.ownership`, default `unless_changed_by_person`), decided against the
value HubSpot holds now (`current`: from `FieldUpdate.crm_values`, or read by the push first) and the native
form of what crmsync last wrote (the lifecycle stage or lead status of `previous["stage"]`):

* `lifecyclestage` only moves forward ("Use lifecycle stages", knowledge.hubspot.com). crmsync writes an
  earlier stage only when the rules moved the contact back from a later stage crmsync wrote, HubSpot still
  holds that stage, and `allow_backward_lifecycle` is on: cleared in one request, set in the next
  (`steps`). A target that is behind what HubSpot holds for any other reason (a replay after a crash, a
  person or a won deal moved it meanwhile) is left alone. HubSpot's finer grades of one crmsync stage
  (MQL for a lead, opportunity for a prospect, evangelist for a client) are never undone.
* `hs_lead_status`: the status of nurture / disqualified (`settings.lead_status`), cleared when the contact
  leaves them; a status a person set stays.

"Changed by a person" is what HubSpot records: a value whose last change a user made (its history entry
names `updatedByUserId`, or came from HubSpot's UI) is a person's. A value neither crmsync wrote nor a
person set (a form's `lead`, an import, a workflow, HubSpot's own deal sync) is `automated`: crmsync may
take it over, as if it had written it, though a stage HubSpot moved on is still never moved back.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any

from connectors.hubspot.mapping import LEAD_STATUS, LIFECYCLE, epoch_ms
from connectors.hubspot.settings import HubSpotSettings
from sync.contract import CanonicalField, FieldUpdate, FieldValue
from sync.model import Stage
from sync.toolkit.ownership import Ownership, Verdict, decide, needs_current_value, policy_for

DEFAULT_LIFECYCLE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                           "customer", "evangelist", "other")
#: HubSpot's finer grades of one crmsync stage: crmsync never undoes them (an MQL stays an MQL for "lead")
LIFECYCLE_EQUIVALENT = {"lead": {"marketingqualifiedlead"}, "salesqualifiedlead": {"opportunity"},
                        "customer": {"evangelist"}}
MAX_TEXT = 65_000  # HubSpot string properties hold 65,536 characters


def encode_value(value: FieldValue, kind: str | None) -> str:
    """A Python value as the string HubSpot stores; None clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if kind == "date":
            return str(epoch_ms(datetime.combine(value.astimezone(timezone.utc).date(), time(), timezone.utc)))
        return str(epoch_ms(value))
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:MAX_TEXT]


class Lifecycle:
    """The account's lifecycle order (from the property's options) and the forward-only rule."""

    def __init__(self, options: Sequence[str] = DEFAULT_LIFECYCLE_ORDER) -> None:
        self.rank = {value: index for index, value in enumerate(options)}

    def same(self, current: Any, stage: Any) -> bool:
        """HubSpot's `current` stage is `stage`, or HubSpot's finer grade of it (an MQL is a lead)."""
        return current == stage or current in LIFECYCLE_EQUIVALENT.get(str(stage), set())

    def behind(self, target: str, current: Any) -> bool:
        """`target` is an earlier stage than `current` (unknown stages: not behind, HubSpot decides)."""
        if not isinstance(current, str) or current not in self.rank or target not in self.rank:
            return False
        return self.rank[target] < self.rank[current]


@dataclass
class PlannedUpdate:
    """The requests one `FieldUpdate` needs: `steps[k]` goes into the k-th round of batch updates, so a
    lifecycle clear and the earlier stage that follows it are never in the same batch. `kept` names the
    native properties left as HubSpot holds them, and why."""

    contact_id: str
    steps: list[dict[str, str]]
    written: dict[str, FieldValue]
    lifecycle_target: str | None = None
    kept: dict[str, str] = field(default_factory=dict)
    property_fields: dict[str, str] = field(default_factory=dict)  # property -> canonical field, for errors

    def drop_native(self, reason: str) -> None:
        """Leave the native properties as HubSpot holds them (it refused them); the rest is still sent."""
        for step in self.steps:
            for name in (LIFECYCLE, LEAD_STATUS):
                if name in step:
                    step.pop(name)
                    self.kept.setdefault(name, reason)
        self.steps = [step for step in self.steps if step]


def _stage(value: FieldValue) -> Stage | None:
    return Stage(value) if isinstance(value, str) and value in Stage._value2member_map_ else None


def changed_values(update: FieldUpdate) -> dict[str, FieldValue]:
    return {key: value for key, value in update.values.items()
            if key not in update.previous or update.previous[key] != value}


def native_targets(update: FieldUpdate, settings: HubSpotSettings) -> dict[str, tuple[str, str | None]]:
    """The native properties a stage change moves: name -> (target, what crmsync last wrote there)."""
    key = CanonicalField.STAGE.value
    if key not in changed_values(update):
        return {}
    stage, previous = _stage(update.values.get(key)), _stage(update.previous.get(key))
    targets: dict[str, tuple[str, str | None]] = {}
    lifecycle = settings.lifecycle_stages.get(stage) if stage else None
    if lifecycle:
        targets[LIFECYCLE] = (lifecycle, settings.lifecycle_stages.get(previous) if previous else None)
    last_status = settings.lead_status.get(previous) if previous else None
    if stage in settings.lead_status:
        targets[LEAD_STATUS] = (settings.lead_status[stage], last_status)
    elif last_status:
        targets[LEAD_STATUS] = ("", last_status)  # leaving nurture / disqualified: crmsync's status is cleared
    return targets


def policy(name: str, settings: HubSpotSettings) -> Ownership:
    return policy_for(name, settings.ownership, Ownership.UNLESS_CHANGED_BY_PERSON)


def native_wanted(update: FieldUpdate, settings: HubSpotSettings) -> list[str]:
    """The native properties whose current value this update must know before it writes them: the
    lifecycle stage always (it only moves forward), the lead status under `unless_changed_by_person`."""
    return [name for name in native_targets(update, settings)
            if policy(name, settings) is not Ownership.NEVER
            and (name == LIFECYCLE or needs_current_value(policy(name, settings)))]


def plan(update: FieldUpdate, *, settings: HubSpotSettings, types: Mapping[str, str], lifecycle: Lifecycle,
         current: Mapping[str, Any], automated: Collection[str] = ()) -> PlannedUpdate:
    """The steps of one update; `current` holds HubSpot's values of the native properties `native_wanted`
    names (read by the push, or from `crm_values`), `automated` the names whose value no person set (from
    their history). Raises KeyError for a field crmsync does not write."""
    planned = PlannedUpdate(contact_id=update.contact_id, steps=[], written=dict(update.values))
    first: dict[str, str] = {}
    for key, value in changed_values(update).items():
        prop = settings.field_properties[CanonicalField(key)]
        first[prop] = encode_value(value, types.get(prop))
        planned.property_fields[prop] = key
    for name, (target, last_written) in native_targets(update, settings).items():
        planned.property_fields[name] = CanonicalField.STAGE.value
        _native(planned, first, name, target, last_written, current.get(name), settings, lifecycle,
                automated=name in automated)
    if first:
        planned.steps.insert(0, first)
    return planned


def _native(planned: PlannedUpdate, first: dict[str, str], name: str, target: str, last_written: str | None,
            current: Any, settings: HubSpotSettings, lifecycle: Lifecycle, *, automated: bool) -> None:
    same = lifecycle.same if name == LIFECYCLE else None
    verdict = decide(policy(name, settings), target=target, current=current, same=same,
                     last_written=current if automated else last_written)
    if verdict is Verdict.UNCHANGED or (verdict is Verdict.WRITE and not target and not current):
        return
    if verdict is not Verdict.WRITE:
        planned.kept[name] = verdict.value  # KEEP_PERSON_VALUE: the push may find no person set it
        return
    if name == LEAD_STATUS:
        first[name] = target
        return
    planned.lifecycle_target = target
    if not lifecycle.behind(target, current):
        first[name] = target
        return
    moved_back = last_written is not None and lifecycle.behind(target, last_written)
    if moved_back and lifecycle.same(current, last_written) and settings.allow_backward_lifecycle:
        first[name] = ""  # HubSpot moves lifecycle forward only: clear now, set in the next round
        planned.steps.append({name: target})
    else:
        planned.kept[name] = "forward_only"
