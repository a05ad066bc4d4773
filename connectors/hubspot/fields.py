"""crmsync's contact properties in a HubSpot account: its property group and the properties it writes,
created when missing ("CRM API | Properties": `POST /crm/v3/properties/contacts` and `.../groups`), and
what an admin must fix when one exists with another type or a native property is not visible to the app.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import hubspot.crm.properties as properties_sdk

from connectors.hubspot import mapping
from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.settings import HubSpotSettings
from sync.contract import FieldSetupReport

_PROPS_CFG = properties_sdk.Configuration()
Schema = Callable[..., dict[str, str]]  # `schema(refresh=True)`: property name -> type, read again


class ContactProperties:
    """The contact properties crmsync writes (`field_properties`, the stage override property)."""

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings, schema: Schema) -> None:
        self.client = client
        self.settings = settings
        self._schema = schema

    def ensure(self) -> FieldSetupReport:
        """Create the group and the missing properties. Idempotent; a property another worker creates
        meanwhile (409) counts as existing."""
        created: list[str] = []
        existing: list[str] = []
        problems: list[str] = []
        group = self.settings.property_group
        groups = {str(group.get("name")) for group in self.client.contact_property_groups().get("results") or []}
        if group not in groups:
            body = properties_sdk.PropertyGroupCreate(name=group, label=self.settings.property_group_label,
                                                      display_order=-1, local_vars_configuration=_PROPS_CFG)
            _create(lambda: self.client.create_property_group(body), f"group {group}", created, existing)
        types = self._schema(refresh=True)
        wanted = {self.settings.field_properties[canonical]: spec for canonical, spec in mapping.PROPERTY_SPECS.items()}
        if self.settings.override_stage_property:
            wanted[self.settings.override_stage_property] = mapping.OVERRIDE_SPEC
        for name, spec in wanted.items():
            if name in types:
                existing.append(name)
                if types[name] != spec.type:
                    problems.append(f"{name} exists with type {types[name]}, crmsync writes {spec.type}")
                continue
            body = mapping.property_create_body(name, spec, group)
            model = properties_sdk.PropertyCreate(
                name=body["name"], label=body["label"], type=body["type"], field_type=body["fieldType"],
                group_name=group, local_vars_configuration=_PROPS_CFG, options=[
                    properties_sdk.OptionInput(label=option["label"], value=option["value"], hidden=option["hidden"],
                                               display_order=option["displayOrder"],
                                               local_vars_configuration=_PROPS_CFG)
                    for option in body.get("options", [])])
            _create(partial(self.client.create_property, model), name, created, existing)
        for native in (mapping.LIFECYCLE, mapping.LEAD_STATUS):
            if native not in types:
                problems.append(f"HubSpot property {native} is not visible to this app")
        if created:
            self._schema(refresh=True)
        return FieldSetupReport(created=created, existing=existing, problems=problems)


def _create(send: Callable[[], Any], name: str, created: list[str], existing: list[str]) -> None:
    try:
        send()
        created.append(name)
    except HubSpotRejected as exc:
        if exc.status != 409:  # OBJECT_ALREADY_EXISTS: another worker created it meanwhile
            raise
        existing.append(name)
