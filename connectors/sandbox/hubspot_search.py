"""HubSpot's search semantics for the sandbox: filter operators and the single sort, comparing ids and
numbers numerically and dates by instant (filters may give dates as epoch-ms strings or ISO-8601), with
ties broken by id as a stable order. Sorts come as the spec's strings ("name" ascending, "-name"
descending) or as the `{propertyName, direction}` objects HubSpot's guides show: both are accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.sandbox.hubspot_store import SINGULAR, HubSpotStore, Record, ValidationFailure, id_order, to_ms

_PLURAL = {singular: plural for plural, singular in SINGULAR.items()}

DATE_PROPERTIES = frozenset({"createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate",
                             "hs_timestamp", "closedate"})


def comparable(store: HubSpotStore, object_type: str, name: str, raw: str) -> Any:
    """A property value in the order HubSpot compares it: ids and numbers numerically, dates by instant."""
    if name == "hs_object_id":
        return id_order(raw)
    if name in DATE_PROPERTIES:
        kind: str | None = "datetime"
    else:
        kind = store.properties.get(name, {}).get("type") if object_type == "contacts" else None
    if kind in ("datetime", "date"):
        return to_ms(raw)
    if kind == "number":
        return float(raw)
    return raw.lower()

def matches(store: HubSpotStore, object_type: str, record: Record, flt: dict[str, Any]) -> bool:
    name, operator = flt["propertyName"], flt["operator"]
    if name.startswith("associations."):  # "CRM API | Search": records associated with the given record (EQ id)
        if operator != "EQ":
            raise ValidationFailure(f"{name} supports the EQ operator only")
        linked_type = name.split(".", 1)[1]
        plural = linked_type if linked_type in SINGULAR else _PLURAL.get(linked_type)
        if plural is None:
            raise ValidationFailure(f"{name}: unknown object type {linked_type!r}")
        return str(flt.get("value", "")) in store.linked(object_type, record.id, plural)
    raw = record.properties.get(name)
    if operator == "HAS_PROPERTY":
        return raw is not None
    if operator == "NOT_HAS_PROPERTY":
        return raw is None
    if raw is None:
        return operator in ("NEQ", "NOT_IN")
    have = comparable(store, object_type, name, raw)
    if operator in ("IN", "NOT_IN"):
        values = {comparable(store, object_type, name, str(value)) for value in flt.get("values") or []}
        return (have in values) == (operator == "IN")
    want = comparable(store, object_type, name, str(flt.get("value", "")))
    if operator == "BETWEEN":
        return want <= have <= comparable(store, object_type, name, str(flt.get("highValue", "")))
    if operator == "CONTAINS_TOKEN":
        return str(want).strip("*") in str(have)
    checks = {"EQ": have == want, "NEQ": have != want, "GT": have > want, "GTE": have >= want, "LT": have < want,
              "LTE": have <= want}
    if operator not in checks:
        raise ValidationFailure(f"Unknown operator {operator}")
    return checks[operator]

def sort_key(store: HubSpotStore, object_type: str, sort: Any) -> Callable[[Record], Any]:
    if isinstance(sort, dict):
        name, descending = sort["propertyName"], sort.get("direction", "ASCENDING") == "DESCENDING"
    else:
        name, descending = str(sort).lstrip("-"), str(sort).startswith("-")
    sign = -1 if descending else 1

    def key(record: Record) -> Any:
        raw = record.properties.get(name)
        if raw is None:
            return (1, 0, id_order(record.id))
        value = comparable(store, object_type, name, raw)
        numeric = isinstance(value, (int, float))
        if isinstance(value, tuple) and descending:
            raise ValidationFailure("the sandbox sorts ids ascending only")
        return (0, sign * value if numeric else value, id_order(record.id))

    return key
