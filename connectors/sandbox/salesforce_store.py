"""The Salesforce sandbox's org: sObjects, their schema, ids and system fields.

Records live in memory as dicts of Python values. Datetimes keep milliseconds, as the REST API renders
them (`2024-01-17T19:55:04.281+0000`, "Valid Date and DateTime Formats" in the REST API Developer Guide):
SOQL datetime literals have whole seconds only (`salesforce_soql`), so a query from a second compares with
stamps finer than it. Every write moves `SystemModstamp` and `LastModifiedDate` to the injected clock's
now, crmsync's own writes included, so the connector meets its own echo. A deleted record (a merge's loser
too) goes to the recycle bin: `IsDeleted = true`, its SystemModstamp moved to the deletion, hidden from
`query` and returned by `queryAll` for `RECYCLE_BIN_DAYS` (15) days, after which (or once the bin is
emptied) it is gone for good and no query returns it: a pull that comes back later than that cannot see
the deletion. Ids are 18-character with the real key prefixes
and checksum. Field-level security is modelled per field: a hidden field exists in the org but the
integration user cannot see it (describe omits it, SOQL and writes answer "No such column").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sync.clock import Clock

from connectors.salesforce.values import format_datetime, to18
from connectors.sandbox.salesforce_schema import PICKLISTS, PREFIX, READ_ONLY, RELATIONSHIPS, SCHEMA
from connectors.sandbox.salesforce_soql import Predicate, Query, SoqlError, parse

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RECYCLE_BIN_DAYS = 15  # how long queryAll still returns a deleted record


def _base62(number: int, width: int) -> str:
    text = ""
    while number:
        number, digit = divmod(number, 62)
        text = _BASE62[digit] + text
    return text.rjust(width, "0")


def render(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class Org:
    """One org's data. Callers hold `lock` for compound operations; single calls take it themselves."""

    def __init__(self, clock: Clock, *, api_version: str = "59.0") -> None:
        self.clock = clock
        self.api_version = api_version
        self.lock = threading.RLock()
        self.schema: dict[str, dict[str, str]] = {name: dict(fields) for name, fields in SCHEMA.items()}
        self.custom_meta: dict[
            tuple[str, str], dict[str, Any]
        ] = {}  # (object, field) -> CustomField metadata
        self.hidden: set[tuple[str, str]] = set()
        # objects the integration user has no access to (a profile without Read on Campaigns cannot see
        # CampaignMember): out of the global describe, 404 on describe, INVALID_TYPE in SOQL
        self.denied: set[str] = set()
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SCHEMA}
        self._counters: dict[str, int] = {}
        self.recycle_bin: dict[str, datetime] = {}  # deleted record id -> when it was deleted
        # (object, reference field) -> normalised id -> record ids: what answers `IN (ids)` without a scan
        self._index: dict[tuple[str, str], dict[Any, set[str]]] = {
            (name, field): {}
            for name, fields in SCHEMA.items()
            for field, kind in fields.items()
            if kind == "reference"
        }

    def now(self) -> datetime:
        return _milliseconds(self.clock.now())

    def new_id(self, sobject: str) -> str:
        with self.lock:
            number = self._counters.get(sobject, 0) + 1
            self._counters[sobject] = number
        return to18(PREFIX[sobject] + "8d" + _base62(number, 10))

    # --- writes -----------------------------------------------------------------------------------------
    def insert(self, sobject: str, values: Mapping[str, Any], *, at: datetime | None = None) -> str:
        """Insert a record; `at` backdates CreatedDate/SystemModstamp (seeding history)."""
        stamp = _milliseconds(at or self.now())
        record_id = self.new_id(sobject)
        fields = self.schema[sobject]
        record: dict[str, Any] = dict.fromkeys(fields)
        record.update(_stored({name: value for name, value in values.items() if name in fields}))
        record.update(
            Id=record_id,
            CreatedDate=record.get("CreatedDate") or stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
            IsDeleted=False,
        )
        if "IsConverted" in record and record["IsConverted"] is None:
            record["IsConverted"] = False
        with self.lock:
            self.records[sobject][record_id] = record
            self._reindex(sobject, record, None)
        return record_id

    def _reindex(self, sobject: str, record: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        for (indexed_object, field), index in self._index.items():
            if indexed_object != sobject:
                continue
            if old is not None and old.get(field) is not None:
                index.get(_normalise(old[field]), set()).discard(record["Id"])
            if record.get(field) is not None:
                index.setdefault(_normalise(record[field]), set()).add(record["Id"])

    def update(
        self, sobject: str, record_id: str, values: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        with self.lock:
            record = self.records[sobject][record_id]
            old = {field: record.get(field) for (indexed_sobject, field) in self._index if indexed_sobject == sobject}
            fields = self.schema[sobject]
            record.update(_stored({name: value for name, value in values.items() if name in fields or name in (
                "IsDeleted", "MasterRecordId")}))
            self._reindex(sobject, record, old)
            stamp = _milliseconds(at or self.now())
            record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def delete(self, sobject: str, record_id: str, *, master: str | None = None) -> None:
        """To the recycle bin: `IsDeleted`, the survivor of a merge in `MasterRecordId`, a new SystemModstamp."""
        with self.lock:
            self.update(sobject, record_id, {"IsDeleted": True, "MasterRecordId": master})
            self.recycle_bin[record_id] = self.records[sobject][record_id]["SystemModstamp"]

    def empty_recycle_bin(self) -> None:
        """Every deleted record leaves the recycle bin now (as "Empty your org's recycle bin" or a hard delete)."""
        with self.lock:
            self.recycle_bin.clear()

    def _in_recycle_bin(self, record_id: str) -> bool:
        """Deleted less than RECYCLE_BIN_DAYS ago and not purged (out of the bin, a deleted record is returned
        by no query); expired entries leave the bin on the way."""
        deleted_at = self.recycle_bin.get(record_id)
        if deleted_at is None:
            return False
        if deleted_at < self.now() - timedelta(days=RECYCLE_BIN_DAYS):
            del self.recycle_bin[record_id]
            return False
        return True

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        for sobject, prefix in PREFIX.items():
            if record_id[:3] == prefix:
                record = self.records[sobject].get(to18(record_id))
                return (sobject, record) if record is not None else None
        return None

    def add_custom_field(self, sobject: str, name: str, field_type: str, meta: Mapping[str, Any]) -> None:
        with self.lock:
            self.schema[sobject][name] = field_type
            self.custom_meta[(sobject, name)] = dict(meta)
            for record in self.records[sobject].values():
                record.setdefault(name, False if field_type == "boolean" else None)

    def visible(self, sobject: str, name: str) -> bool:
        return name in self.schema.get(sobject, {}) and (sobject, name) not in self.hidden

    # --- reads ------------------------------------------------------------------------------------------
    def resolve(self, sobject: str, record: Mapping[str, Any], path: str) -> Any:
        if "." not in path:
            return record.get(path)
        relation, rest = path.split(".", 1)
        ref_field, parent_type = RELATIONSHIPS[(sobject, relation)]
        parent_id = record.get(ref_field)
        parent = self.records[parent_type].get(parent_id) if parent_id else None
        return self.resolve(parent_type, parent, rest) if parent is not None else None

    def accessible(self, sobject: str) -> bool:
        return sobject in self.schema and sobject not in self.denied

    def check_path(self, sobject: str, path: str) -> None:
        if not self.accessible(sobject):
            # what SOQL answers for an object the user cannot see as for one that does not exist
            raise SoqlError("INVALID_TYPE", f"sObject type '{sobject}' is not supported. If you are attempting "
                            "to use a custom object, be sure to append the '__c' after the entity name. Please "
                            "reference your WSDL or the describe call for the appropriate names.")
        if "." in path:
            relation, rest = path.split(".", 1)
            if (sobject, relation) not in RELATIONSHIPS:
                raise SoqlError(
                    "INVALID_FIELD", f"Didn't understand relationship '{relation}' in field path."
                )
            parent = RELATIONSHIPS[(sobject, relation)][1]
            if not self.accessible(parent):
                raise SoqlError("INVALID_FIELD", f"Didn't understand relationship '{relation}' in field path.")
            self.check_path(parent, rest)
        elif not self.visible(sobject, path):
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{path}' on entity '{sobject}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )

    # --- the SOQL engine's catalog (`salesforce_soql.Catalog`) -------------------------------------------
    def is_key(self, sobject: str, name: str) -> bool:
        return name == "Id" or self.schema.get(sobject, {}).get(name) == "reference"

    def column_values(self, sobject: str, column: str, where: Predicate | None) -> set[Any]:
        """A semi-join's subquery: the values of `column` over the live rows of `sobject` it selects."""
        with self.lock:
            return {_normalise(self.resolve(sobject, record, column)) for record in self.records[sobject].values()
                    if not record.get("IsDeleted") and (where is None or where(record))} - {None}

    @staticmethod
    def equal(left: Any, right: Any) -> bool:
        return _soql_equal(left, right)

    @staticmethod
    def normalise(value: Any) -> Any:
        return _normalise(value)

    def compile(self, soql: str) -> Query:
        return parse(soql, self)

    def run(self, soql: str, *, include_deleted: bool) -> list[dict[str, Any]]:
        """Rows as the REST API renders them (attributes, nested parents, formatted values)."""
        return self.execute(soql, include_deleted=include_deleted)[1]

    def execute(self, soql: str, *, include_deleted: bool) -> tuple[str, list[dict[str, Any]]]:
        """The queried object and its rows as the REST API renders them."""
        query = self.compile(soql)
        with self.lock:
            rows = [
                candidate
                for candidate in self._candidates(query)
                if (not candidate.get("IsDeleted") or (include_deleted and self._in_recycle_bin(candidate["Id"])))
                and (query.where is None or query.where(candidate))
            ]
            for path, descending in reversed(query.order):
                rows.sort(key=lambda record: _sort_key(self.resolve(query.sobject, record, path)), reverse=descending)
            if query.limit is not None:
                rows = rows[: query.limit]
            return query.sobject, [self.render_row(query.sobject, row, query.columns) for row in rows]

    def _candidates(self, query: Query) -> Iterable[dict[str, Any]]:
        """Rows worth testing: through an index when the query pins an indexed field, else all of them."""
        table = self.records[query.sobject]
        for field, hint in query.hints:
            values = hint() if callable(hint) else hint
            if field == "Id":
                return [table[record_id] for record_id in sorted(
                    record_id for record_id in table if _normalise(record_id) in values)]
            index = self._index.get((query.sobject, field))
            if index is not None:
                ids: set[str] = set()
                for value in values:
                    ids |= index.get(value, set())
                return [table[record_id] for record_id in sorted(ids)]
        return list(table.values())

    def render_row(self, sobject: str, record: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.attributes(sobject, record["Id"])}
        for path in columns:
            self._render_path(sobject, record, path, out)
        return out

    def _render_path(self, sobject: str, record: Mapping[str, Any], path: str, out: dict[str, Any]) -> None:
        if "." not in path:
            out[path] = render(record.get(path))
            return
        relation, rest = path.split(".", 1)
        ref_field, parent_type = RELATIONSHIPS[(sobject, relation)]
        parent = self.records[parent_type].get(record.get(ref_field) or "")
        if parent is None:
            out[relation] = None
            return
        nested = out.get(relation) or {"attributes": self.attributes(parent_type, parent["Id"])}
        self._render_path(parent_type, parent, rest, nested)
        out[relation] = nested

    def attributes(self, sobject: str, record_id: str) -> dict[str, str]:
        return {"type": sobject, "url": f"/services/data/v{self.api_version}/sobjects/{sobject}/{record_id}"}

    def describe_global(self) -> dict[str, Any]:
        """Describe Global: the objects of the org the logged-in user can use ("Get a List of Objects", REST
        API Developer Guide): an object the user has no access to is not listed."""
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [
                {"name": name, "label": name, "keyPrefix": PREFIX[name], "custom": False, "queryable": True,
                 "retrieveable": True, "updateable": True, "createable": True, "deletable": True,
                 "urls": {"describe": f"/services/data/v{self.api_version}/sobjects/{name}/describe"}}
                for name in sorted(self.schema) if self.accessible(name)
            ],
        }

    def remove_custom_fields(self) -> None:
        """A stock org: none of the custom fields this org was built with (crmsync creates its own)."""
        with self.lock:
            for fields in self.schema.values():
                for name in [name for name in fields if name.endswith("__c")]:
                    del fields[name]

    def describe(self, sobject: str) -> dict[str, Any]:
        fields = []
        for name, field_type in self.schema[sobject].items():
            if (sobject, name) in self.hidden:
                continue
            relation = next(
                (rel for (obj, rel), (ref, _) in RELATIONSHIPS.items() if obj == sobject and ref == name),
                None,
            )
            meta = self.custom_meta.get((sobject, name), {})
            fields.append(
                {
                    "name": name,
                    "type": field_type,
                    "label": meta.get("label", name),
                    "custom": name.endswith("__c"),
                    "updateable": name not in READ_ONLY,
                    "createable": name not in READ_ONLY,
                    "nillable": field_type != "boolean",
                    "length": int(meta.get("length") or 0),
                    "precision": int(meta.get("precision") or 0),
                    "scale": int(meta.get("scale") or 0),
                    "relationshipName": relation,
                    "referenceTo": [RELATIONSHIPS[(sobject, relation)][1]] if relation else [],
                    "picklistValues": [
                        {"value": picklist_value, "label": picklist_value, "active": True, "defaultValue": False}
                        for picklist_value in PICKLISTS.get((sobject, name), ())
                    ],
                }
            )
        return {
            "name": sobject,
            "label": sobject,
            "custom": False,
            "keyPrefix": PREFIX[sobject],
            "updateable": True,
            "queryable": True,
            "fields": fields,
        }


def _milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """Salesforce keeps datetimes to the millisecond."""
    return {key: _milliseconds(value) if isinstance(value, datetime) else value for key, value in values.items()}


_PREFIXES = frozenset(PREFIX.values())


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) == 15 and value[:3] in _PREFIXES and value.isalnum():
            return to18(value).lower()
        return value.lower()
    return value


def _soql_equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return bool(_normalise(left) == _normalise(right))


def _sort_key(value: Any) -> tuple[int, Any]:
    # SOQL sorts nulls first in ascending order
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)
