"""crmsync's contact properties in a HubSpot account: its property group and the properties it writes,
created when missing, and what an admin must fix when one exists with another type or a native property is
not visible to the app.

Calls ("CRM API | Properties"): the groups and the contact property definitions are read once each; a
missing group is created (`POST /crm/v3/properties/contacts/groups`); every missing property is created in
one `POST /crm/v3/properties/contacts/batch/create` (up to 100 inputs; 201, or 207 naming the ones that
could not be, such as a property another worker created meanwhile, which then counts as existing). Nothing
is read again afterwards: the types crmsync writes are its own (`owned_property_types`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import hubspot.crm.properties as properties_sdk

from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import LEAD_STATUS, LIFECYCLE
from connectors.hubspot.settings import HubSpotSettings
from sync.contract import CanonicalField, FieldSetupReport, SetupWarning
from sync.model import Stage

_PROPS_CFG = properties_sdk.Configuration()
BATCH_MAX = 100  # inputs of one properties batch/create


class Schema(Protocol):
    def __call__(self, *, refresh: bool = False) -> dict[str, str]:
        """Property name -> HubSpot type, read again when `refresh`."""
        ...


@dataclass(frozen=True)
class PropertySpec:
    """One crmsync-owned contact property: HubSpot `type`, `fieldType`, label and enumeration options."""

    type: str
    field_type: str
    label: str
    options: tuple[str, ...] = ()


_SLA_STATUSES = ("not_started", "running", "met", "breached", "late")
PROPERTY_SPECS: dict[CanonicalField, PropertySpec] = {
    CanonicalField.SCORE: PropertySpec("number", "number", "crmsync score"),
    CanonicalField.SCORE_FIT: PropertySpec("number", "number", "crmsync fit score"),
    CanonicalField.SCORE_ENGAGEMENT: PropertySpec("number", "number", "crmsync engagement score"),
    CanonicalField.SCORE_INTENT: PropertySpec("number", "number", "crmsync intent score"),
    CanonicalField.STAGE: PropertySpec("enumeration", "select", "crmsync stage", tuple(stage.value for stage in Stage)),
    CanonicalField.MATURITY: PropertySpec("enumeration", "select", "crmsync maturity", ("cold", "warm", "hot")),
    CanonicalField.CLIENT_KIND: PropertySpec("enumeration", "select", "crmsync client kind", ("one_off", "recurring")),
    CanonicalField.CRITERIA_MET: PropertySpec("string", "text", "crmsync qualification criteria met"),
    CanonicalField.SLA_STATUS: PropertySpec("enumeration", "select", "crmsync SLA status", _SLA_STATUSES),
    CanonicalField.SLA_DUE_AT: PropertySpec("datetime", "date", "crmsync SLA due at"),
    CanonicalField.SLA_BREACHED: PropertySpec("bool", "booleancheckbox", "crmsync SLA breached", ("true", "false")),
    CanonicalField.REASON: PropertySpec("string", "textarea", "crmsync reason"),
    CanonicalField.RULES_VERSION: PropertySpec("string", "text", "crmsync rules version"),
}
OVERRIDE_SPEC = PropertySpec("enumeration", "select", "crmsync pinned stage", tuple(stage.value for stage in Stage))
_OPTION_LABELS = {"true": "Yes", "false": "No"}


def owned_property_types(settings: HubSpotSettings) -> dict[str, str]:
    """HubSpot types of the properties crmsync writes, known without asking the account."""
    return {settings.field_properties[canonical]: spec.type for canonical, spec in PROPERTY_SPECS.items()}


def property_create_body(name: str, spec: PropertySpec, group: str) -> dict[str, Any]:
    """The create body of one crmsync property."""
    body: dict[str, Any] = {"name": name, "label": spec.label, "type": spec.type, "fieldType": spec.field_type,
                            "groupName": group}
    if spec.options:
        body["options"] = [{"label": _OPTION_LABELS.get(option, option.replace("_", " ").capitalize()), "value": option,
                            "hidden": False, "displayOrder": index} for index, option in enumerate(spec.options)]
    return body


def _model(body: dict[str, Any]) -> Any:
    return properties_sdk.PropertyCreate(
        name=body["name"], label=body["label"], type=body["type"], field_type=body["fieldType"],
        group_name=body["groupName"], local_vars_configuration=_PROPS_CFG, options=[
            properties_sdk.OptionInput(label=option["label"], value=option["value"], hidden=option["hidden"],
                                       display_order=option["displayOrder"], local_vars_configuration=_PROPS_CFG)
            for option in body.get("options", [])])


class ContactProperties:
    """The contact properties crmsync writes (`field_properties`, the stage override property)."""

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings, schema: Schema) -> None:
        self.client = client
        self.settings = settings
        self._schema = schema

    def ensure(self) -> FieldSetupReport:
        """Create the group and the missing properties. Idempotent."""
        created: list[str] = []
        existing: list[str] = []
        warnings: list[SetupWarning] = []
        group = self.settings.property_group
        groups = {str(found.get("name")) for found in self.client.contact_property_groups().get("results") or []}
        if group not in groups:
            body = properties_sdk.PropertyGroupCreate(name=group, label=self.settings.property_group_label,
                                                      display_order=-1, local_vars_configuration=_PROPS_CFG)
            try:
                self.client.create_property_group(body)
                created.append(f"group {group}")
            except HubSpotRejected as exc:
                if exc.status != 409:  # OBJECT_ALREADY_EXISTS: another worker created it meanwhile
                    raise
                existing.append(f"group {group}")
        types = self._schema(refresh=True)
        wanted = {self.settings.field_properties[canonical]: spec for canonical, spec in PROPERTY_SPECS.items()}
        if self.settings.override_stage_property:
            wanted[self.settings.override_stage_property] = OVERRIDE_SPEC
        missing = []
        for name, spec in wanted.items():
            if name in types:
                existing.append(name)
                if types[name] != spec.type:
                    warnings.append(SetupWarning(f"{name} exists with type {types[name]}, crmsync writes {spec.type}",
                                                 "HubSpot may refuse or mangle crmsync's values there",
                                                 f"recreate the property as {spec.type}, or map another one in "
                                                 "field_properties"))
            else:
                missing.append(property_create_body(name, spec, group))
        for offset in range(0, len(missing), BATCH_MAX):
            chunk = missing[offset:offset + BATCH_MAX]
            request = properties_sdk.BatchInputPropertyCreate(inputs=[_model(body) for body in chunk],
                                                              local_vars_configuration=_PROPS_CFG)
            data = self.client.create_properties(request).data or {}
            made = {str(result.get("name")) for result in data.get("results") or []}
            refused: dict[str, str] = {}
            for error in data.get("errors") or []:
                for name in (error.get("context") or {}).get("name") or []:
                    refused[str(name)] = str(error.get("category") or "ERROR")
            for body in chunk:
                name = body["name"]
                if name in made:
                    created.append(name)
                elif refused.get(name) == "OBJECT_ALREADY_EXISTS":  # another worker created it meanwhile
                    existing.append(name)
                else:
                    warnings.append(SetupWarning(f"HubSpot did not create {name} ({refused.get(name, 'no answer')})",
                                                 "crmsync's writes to it are refused",
                                                 "create the property by hand, or grant the app the "
                                                 "crm.schemas.contacts.write scope, then restart crmsync"))
        for native in (LIFECYCLE, LEAD_STATUS):
            if native not in types:
                warnings.append(SetupWarning(f"HubSpot property {native} is not visible to this app",
                                             f"crmsync does not move {native}",
                                             "grant the app the crm.schemas.contacts.read scope"))
        return FieldSetupReport(created=created, existing=existing, problems=[str(w) for w in warnings],
                                warnings=warnings)
