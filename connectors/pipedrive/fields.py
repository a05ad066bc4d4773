"""crmsync's person fields in a Pipedrive account: the field catalog, and creating the fields it writes.

Pipedrive custom fields are addressed by a 40-character hash key that differs per account: crmsync finds its
fields by name in `GET /v1/personFields` and creates the missing ones with `POST /v1/personFields`.
"""

from __future__ import annotations

from typing import Any

from connectors.pipedrive.client import COST_V1_CREATE, COST_V1_LIST, CRM, PipedriveClient
from connectors.pipedrive.mapping import FieldCatalog
from connectors.pipedrive.settings import FieldSpec, PipedriveSettings
from sync.contract import FieldSetupReport
from sync.errors import TransientError
from sync.model import Stage
from sync.toolkit.paging import OffsetPaginator


class PersonFields:
    """The person fields of one account, read once and cached for the connector's life."""

    def __init__(self, client: PipedriveClient, settings: PipedriveSettings) -> None:
        self.client = client
        self.settings = settings
        self._catalog: FieldCatalog | None = None

    def catalog(self, *, refresh: bool = False) -> FieldCatalog:
        """Person fields from `GET /v1/personFields` (start/limit pages), cached for the connector's life."""
        if self._catalog is None or refresh:
            limit = self.settings.fields_page_size
            rows: list[dict[str, Any]] = []
            for page in OffsetPaginator(
                lambda start: self.client.get(
                    self.client.v1_path("/personFields"),
                    {"start": start, "limit": limit},
                    category="setup",
                    cost=COST_V1_LIST,
                ),
                crm=CRM,
                what="person fields",
            ):
                rows.extend(page)
            self._catalog = FieldCatalog.from_api(rows)
        return self._catalog

    def written_specs(self) -> dict[str, FieldSpec]:
        specs = {str(canonical): spec for canonical, spec in self.settings.write_fields.items()}
        if self.settings.override_stage_field:
            specs["override_stage"] = FieldSpec(
                name=self.settings.override_stage_field,
                field_type="enum",
                options=tuple(str(stage) for stage in Stage),
            )
        return specs

    def ensure(self) -> FieldSetupReport:
        """Find crmsync's fields by name; create the missing ones with `POST /v1/personFields`. Idempotent:
        a second run finds them all and creates nothing."""
        catalog = self.catalog(refresh=True)
        created: list[str] = []
        existing: list[str] = []
        problems: list[str] = []
        for spec in self.written_specs().values():
            found = catalog.named(spec.name)
            if found is None:
                self._create(spec)
                created.append(spec.name)
                continue
            existing.append(spec.name)
            if found.field_type != spec.field_type:
                problems.append(
                    f"field {spec.name!r} is {found.field_type}, crmsync writes {spec.field_type}"
                )
            missing = [option for option in spec.options if found.option_id(option) is None]
            if missing:
                problems.append(f"field {spec.name!r} lacks options {missing}")
        if created:
            self.catalog(refresh=True)
        if self.settings.maturity_labels:
            labels = set(self.catalog().label_options().values())
            for maturity, label in self.settings.maturity_labels.items():
                if label not in labels:
                    problems.append(f"person label {label!r} for {maturity} maturity does not exist")
        return FieldSetupReport(created=created, existing=existing, problems=problems)

    def _create(self, spec: FieldSpec) -> None:
        body: dict[str, Any] = {"name": spec.name, "field_type": spec.field_type}
        if spec.options:
            body["options"] = [{"label": label} for label in spec.options]
        path = self.client.v1_path("/personFields")
        try:
            self.client.request(
                "POST", path, json=body, category="setup", cost=COST_V1_CREATE, idempotent=False
            )
        except TransientError:
            # the create may have landed before the failure: look before sending it again
            if self.catalog(refresh=True).named(spec.name) is None:
                self.client.request(
                    "POST", path, json=body, category="setup", cost=COST_V1_CREATE, idempotent=False
                )


__all__ = ["PersonFields"]
