"""Pipedrive's field metadata: the person fields (crmsync's own among them, created when missing) and the
deal field a company marks recurring deals with.

Pipedrive custom fields are addressed by a 40-character hash key that differs per account ("Custom fields",
https://pipedrive.readme.io/docs/core-api-concepts-custom-fields): crmsync finds its fields by name in
`GET /v1/personFields` and creates the missing ones with `POST /v1/personFields`. An account's plan caps the
number of custom fields: the create is then refused with a 403 (changelog "New error message and code for
POST Deals and Custom Fields endpoints", 2022-03-22, and its update of 2024-11-14); the account still
syncs, without that field, and the connector says so in its setup warnings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.pipedrive.client import COST_V1_CREATE, COST_V1_LIST, COST_V2_LIST, CRM, PipedriveClient
from connectors.pipedrive.mapping import NO, RECURRING_REVENUE_FIELDS, YES, pipedrive_id
from connectors.pipedrive.paging import list_pages
from connectors.pipedrive.settings import FieldSpec, PipedriveSettings
from connectors.pipedrive.setup_warnings import SetupWarnings
from sync.contract import FieldSetupReport, SetupWarning
from sync.errors import PermanentError, TransientError
from sync.model import Stage
from sync.toolkit.paging import OffsetPaginator
from sync.toolkit.reading import RecordReader
from sync.toolkit.vocabulary import recurring_flag

LABELS_KEYS = ("label_ids", "label")


@dataclass(frozen=True)
class PersonField:
    key: str
    name: str
    field_type: str
    options: dict[int, str] = field(default_factory=dict)  # option id -> label

    def option_id(self, label: str) -> int | None:
        for option_id, option_label in self.options.items():
            if option_label == label:
                return option_id
        return None

    @property
    def is_yes_no(self) -> bool:
        return self.field_type == "enum" and set(self.options.values()) == {YES, NO}

    @property
    def is_custom(self) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{40}", self.key))


def _options(raw: Any) -> dict[int, str]:
    options: dict[int, str] = {}
    for option in raw if isinstance(raw, list) else []:
        if isinstance(option, Mapping) and pipedrive_id(option.get("id")) is not None:
            options[int(option["id"])] = str(option.get("label") or "")
    return options


class FieldCatalog:
    """The company's person fields from `GET /v1/personFields`: custom keys by name, option ids by label."""

    def __init__(self, fields: Iterable[PersonField]) -> None:
        self.by_key: dict[str, PersonField] = {}
        self.by_name: dict[str, PersonField] = {}
        for item in fields:
            self.by_key[item.key] = item
            if item.is_custom:
                self.by_name.setdefault(item.name.casefold(), item)

    @classmethod
    def from_api(cls, rows: Iterable[Mapping[str, Any]]) -> FieldCatalog:
        return cls(PersonField(key=str(row["key"]), name=str(row.get("name") or ""),
                               field_type=str(row.get("field_type") or ""), options=_options(row.get("options")))
                   for row in rows if isinstance(row, Mapping) and row.get("key"))

    def named(self, name: str) -> PersonField | None:
        return self.by_name.get(name.casefold())

    def label_options(self) -> dict[int, str]:
        for key in LABELS_KEYS:
            if key in self.by_key:
                return dict(self.by_key[key].options)
        return {}

    def decode(self, spec: PersonField, raw: Any, reader: RecordReader) -> Any:
        """A stored custom-field value as plain Python, read by its field's type: option ids become labels,
        Yes/No options booleans, numbers numbers, text text (cleaned and cut); unreadable is None."""
        return decode_value(spec, raw, reader)


def decode_value(spec: PersonField, raw: Any, reader: RecordReader | None = None) -> Any:
    reader = reader or RecordReader("?", "person")
    if raw is None:
        return None
    kind = spec.field_type
    if kind == "enum":
        option = pipedrive_id(raw.get("id") if isinstance(raw, Mapping) else raw)
        label = spec.options.get(option) if option is not None else None
        if label is None:
            reader.problem(spec.name, "not one of the field's options")
            return None
        return label == YES if spec.is_yes_no else label
    if kind == "set":
        items = raw if isinstance(raw, list) else [raw]
        labels = [spec.options.get(pipedrive_id(item.get("id") if isinstance(item, Mapping) else item) or 0)
                  for item in items]
        if any(label is None for label in labels):
            reader.problem(spec.name, "holds values that are not the field's options")
        return [label for label in labels if label is not None]
    if kind == "monetary":
        return reader.number(raw.get("value") if isinstance(raw, Mapping) else raw, spec.name)
    if kind in ("double", "int"):
        return reader.number(raw, spec.name)
    if kind == "date":
        day = reader.day(raw, spec.name)
        return day.isoformat() if day is not None else None
    if isinstance(raw, (Mapping, list)):
        return raw if kind in ("address", "daterange", "timerange", "people", "org", "user") else None
    return reader.text(raw, spec.name)


class PersonFields:
    """The person fields of one account, read once and cached for the connector's life."""

    def __init__(self, client: PipedriveClient, settings: PipedriveSettings, warnings: SetupWarnings) -> None:
        self.client = client
        self.settings = settings
        self.warnings = warnings
        self._catalog: FieldCatalog | None = None
        self.refused: set[str] = set()  # crmsync's fields the account refused to create (the plan's cap)

    def catalog(self, *, refresh: bool = False) -> FieldCatalog:
        """Person fields from `GET /v1/personFields` (start/limit pages), cached for the connector's life."""
        if self._catalog is None or refresh:
            limit = self.settings.fields_page_size
            rows: list[dict[str, Any]] = []
            for page in OffsetPaginator(
                lambda start: self.client.get(self.client.v1_path("/personFields"), {"start": start, "limit": limit},
                                              category="setup", cost=COST_V1_LIST),
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
        a second run finds them all and creates nothing. A field the account refuses to create (its plan's
        cap) and maturity labels missing from the account switch a feature off: each is a setup warning."""
        catalog = self.catalog(refresh=True)
        created: list[str] = []
        existing: list[str] = []
        problems: list[str] = []
        self.warnings.clear("fields")
        for spec in self.written_specs().values():
            found = catalog.named(spec.name)
            if found is None:
                refusal = self._create(spec)
                if refusal is None:
                    created.append(spec.name)
                    self.refused.discard(spec.name)
                else:
                    self.refused.add(spec.name)
                    problems.append(self.warnings.add("fields", refusal))
                continue
            existing.append(spec.name)
            if found.field_type != spec.field_type:
                problems.append(self.warnings.add("fields", SetupWarning(
                    f"person field {spec.name!r} is {found.field_type}, crmsync writes {spec.field_type}",
                    "its values are refused", f"recreate the field as {spec.field_type}")))
            missing = [option for option in spec.options if found.option_id(option) is None]
            if missing:
                problems.append(self.warnings.add("fields", SetupWarning(
                    f"person field {spec.name!r} lacks options {missing}", "crmsync cannot write those values",
                    "add the options to the field in Pipedrive")))
        if created:
            self.catalog(refresh=True)
        problems += self.check_labels()
        return FieldSetupReport(created=created, existing=existing, problems=problems,
                                warnings=self.warnings.warnings)

    def check_labels(self) -> list[str]:
        """Maturity labels the account lacks: crmsync cannot show those maturities in the person's labels."""
        self.warnings.clear("labels")
        if not self.settings.maturity_labels:
            return []
        labels = set(self.catalog().label_options().values())
        return [self.warnings.add("labels", SetupWarning(
                    f"person label {label!r} for {maturity} maturity does not exist",
                    "crmsync does not show that maturity in the person's labels",
                    "create the label in Pipedrive or rename it in maturity_labels"))
                for maturity, label in self.settings.maturity_labels.items() if label not in labels]

    def _create(self, spec: FieldSpec) -> SetupWarning | None:
        """Create one field; the reason the account refused it (a 403: the plan's cap), or None."""
        body: dict[str, Any] = {"name": spec.name, "field_type": spec.field_type}
        if spec.options:
            body["options"] = [{"label": label} for label in spec.options]
        path = self.client.v1_path("/personFields")
        try:
            try:
                self.client.request("POST", path, json=body, category="setup", cost=COST_V1_CREATE, idempotent=False)
            except TransientError:
                # the create may have landed before the failure: look before sending it again
                if self.catalog(refresh=True).named(spec.name) is None:
                    self.client.request("POST", path, json=body, category="setup", cost=COST_V1_CREATE,
                                        idempotent=False)
        except PermanentError as exc:
            if exc.status != 403:
                raise
            said = f" (Pipedrive: {exc.detail})" if exc.detail else ""
            return SetupWarning(f"Pipedrive refused to create the person field {spec.name!r}{said}",
                                "crmsync does not write it", "free a custom field or upgrade the plan, then restart "
                                                             "crmsync")
        return None


class DealFieldReader:
    """Reads whether a deal is recurring from the deal field the `recurring_deal_field` setting names: a
    native field (`mrr`, `arr`, `acv`: recurring revenue above 0) or a company's own field by name (a Yes/No
    option, a boolean, or a number above 0), found once in `GET /api/v2/dealFields`."""

    def __init__(self, client: PipedriveClient, settings: PipedriveSettings, warnings: SetupWarnings) -> None:
        self.client = client
        self.name = settings.recurring_deal_field or ""
        self.warnings = warnings
        self._code: str | None = self.name if self.name in RECURRING_REVENUE_FIELDS else None
        self._options: dict[int, str] = {}
        self._values = settings.recurring_table
        self._looked = self._code is not None

    def resolve(self) -> None:
        """Find the field's code by its name (one call, only for a company's own field)."""
        if self._looked or not self.name:
            return
        self._looked = True
        found = None
        for page in list_pages(lambda cursor: self.client.get(
                "/api/v2/dealFields", {"limit": 500, **({"cursor": cursor} if cursor else {})},
                category="setup", cost=COST_V2_LIST), what="deal fields"):
            found = next((row for row in page if isinstance(row, Mapping)
                          and str(row.get("field_name") or "").casefold() == self.name.casefold()), None)
            if found is not None:  # no more pages: the field is found
                break
        if found is None:
            self.warnings.add("deals", SetupWarning(
                f"deal field {self.name!r} (recurring_deal_field) does not exist",
                "crmsync cannot tell recurring deals from one-off ones",
                "create the field in Pipedrive or name an existing one in recurring_deal_field"))
            return
        self._code = str(found.get("field_code") or "")
        self._options = _options(found.get("options"))

    def read(self, row: Mapping[str, Any], value: float | None,
             reader: RecordReader) -> tuple[bool | None, int | None]:
        """(recurring, contract months) of one deal row; None where the row does not say."""
        code = self._code
        if not code:
            return None, None
        custom = row.get("custom_fields")
        raw = row.get(code) if code in RECURRING_REVENUE_FIELDS or code in row else (
            custom.get(code) if isinstance(custom, Mapping) else None)
        if raw is None:
            return None, None
        if code in RECURRING_REVENUE_FIELDS:
            revenue = reader.number(raw, code)
            if revenue is None:
                return None, None
            months = round(value / revenue) if code == "mrr" and revenue > 0 and value else None
            return revenue > 0, months
        option = pipedrive_id(raw.get("id") if isinstance(raw, Mapping) else raw)
        if option is not None and option in self._options:
            return self._word(self._options[option], reader), None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return raw > 0, None
        return (self._word(raw, reader) if isinstance(raw, str) else reader.boolean(raw, self.name)), None

    def _word(self, text: str, reader: RecordReader) -> bool | None:
        """An option label or a text: the `recurring_values` setting, then the words people type ("Yes",
        "Subscription", "One-off"); anything else is reported and unknown."""
        flag = recurring_flag(text, self._values)
        return flag if flag is not None else reader.boolean(text, self.name)


__all__ = ["DealFieldReader", "FieldCatalog", "PersonField", "PersonFields", "decode_value"]
