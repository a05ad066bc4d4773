"""crmsync's custom fields in a Salesforce org: found through describe, the missing ones created through the
Metadata API (`createMetadata()`, 10 components a call, Metadata API Developer Guide), and the field-level
security an admin must grant named when the integration user cannot see or edit one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from simple_salesforce import Salesforce

from sync.contract import CanonicalField, FieldSetupReport, SetupWarning

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.writes import FIELD_SPECS
from connectors.salesforce.org import OrgSchema
from connectors.salesforce.settings import API_MAX_METADATA, SalesforceSettings

_METADATA_FAILURE = re.compile(r"^(?P<name>[^:\n]+): (?P<errors>.*)$", re.MULTILINE)


class CustomFields:
    """The custom fields crmsync writes on Leads and Contacts (those of `field_map` ending in `__c`)."""

    def __init__(self, client: SalesforceClient, settings: SalesforceSettings, schema: OrgSchema) -> None:
        self.client = client
        self.settings = settings
        self.schema = schema

    def _fields(self, sobject: str) -> Mapping[str, Mapping[str, Any]]:
        return self.schema.require(sobject).fields

    def ensure(self, sobjects: Sequence[str]) -> FieldSetupReport:
        """Create the missing fields; report those the integration user cannot edit. Idempotent."""
        wanted = {f"{sobject}.{name}": canonical for sobject in sobjects
                  for canonical, name in self.settings.field_map.items() if name and name.endswith("__c")}
        created: list[str] = []
        existing: list[str] = []
        problems: list[str] = []
        visible = {sobject: self._fields(sobject) for sobject in sobjects}
        missing = []
        for full_name in wanted:
            sobject, name = full_name.split(".", 1)
            field = visible[sobject].get(name)
            if field is None:
                missing.append(full_name)
            elif not field.get("updateable", False):
                problems.append(_fls_problem(full_name, "Edit"))
            else:
                existing.append(full_name)
        for start in range(0, len(missing), API_MAX_METADATA):
            chunk = missing[start:start + API_MAX_METADATA]

            def create(api: Salesforce, chunk: list[str] = chunk) -> dict[str, str]:
                return self._create(api, chunk, wanted)

            failures = self.client.call("setup", create, idempotent=False)
            for full_name in chunk:
                code = failures.get(full_name)
                if code is None:
                    created.append(full_name)
                elif code == "DUPLICATE_DEVELOPER_NAME":
                    problems.append(_fls_problem(full_name, "Read/Edit"))
                else:
                    problems.append(f"{full_name}: Salesforce refused to create it ({code})")
        if created:  # new fields have no field-level security until a profile grants it: describe again
            self.schema.forget(*{full_name.split(".", 1)[0] for full_name in created})
            visible = {sobject: self._fields(sobject) for sobject in sobjects}
            for full_name in created:
                sobject, name = full_name.split(".", 1)
                if not visible[sobject].get(name, {}).get("updateable", False):
                    problems.append(_fls_problem(full_name, "Read/Edit"))
        return FieldSetupReport(created=created, existing=existing, problems=problems,
                                warnings=[_field_warning(problem) for problem in problems])

    def _create(self, api: Salesforce, full_names: list[str],
                wanted: Mapping[str, CanonicalField]) -> dict[str, str]:
        """createMetadata for up to 10 fields; returns the failed ones with their status code. The SDK
        raises a plain Exception listing `fullName: (statusCode, message)` for failed components."""
        metadata = self.client.mdapi(api)
        components = []
        for full_name in full_names:
            spec = FIELD_SPECS[wanted[full_name]]
            options: dict[str, Any] = {
                "fullName": full_name, "label": spec.label, "type": spec.type,
                "description": "Written by crmsync; edits are overwritten on the next sync"}
            if spec.type == "Text":
                options["length"] = spec.length
            elif spec.type == "Number":
                options.update(precision=spec.precision, scale=spec.scale)
            elif spec.type == "Checkbox":
                options["defaultValue"] = "false"
            components.append(metadata.CustomField(**options))
        try:
            metadata.CustomField.create(components)
        except Exception as exc:
            if type(exc) is not Exception:
                raise
            failures = {}
            for match in _METADATA_FAILURE.finditer(str(exc)):
                code = re.search(r"\(([A-Z_]+),", match.group("errors"))
                failures[match.group("name").strip()] = code.group(1) if code else "UNKNOWN"
            return failures
        return {}


def _field_warning(problem: str) -> SetupWarning:
    """A field problem as the warning `crmsync status` lists: the field, what is lost, the fix it names."""
    what, _, detail = problem.partition(": ")
    fix = detail.split(": ", 1)[1] if ": " in detail else \
        "create the field by hand, or map another one in field_map"
    return SetupWarning(what, "crmsync's writes to it are refused: that value does not reach Salesforce", fix)


def _fls_problem(full_name: str, access: str) -> str:
    sobject, name = full_name.split(".", 1)
    return (f"{full_name} exists but the integration user cannot see or edit it: grant {access} field-level "
            f"security on {name} ({sobject}) to the integration user's profile or a permission set")
