"""Says precisely what is wrong with a contact the engine could not evaluate.

The hot path does not type-check every value (contacts decoded with
`sync.model.decode_contact` are already checked); when evaluating a contact
raises, this slow path walks it and names the first bad value by its path, so
the per-contact error reads `events[3].at: expected a datetime, got str` rather
than a Python traceback.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sync.model import Contact, DealStatus, Stage

_TEXT_ATTRS = ("crm", "id", "account", "email", "owner_id", "first_name", "last_name", "company", "industry",
               "job_title", "seniority", "country", "source")


def _kind(value: Any) -> str:
    return type(value).__name__


def _check_time(value: Any, path: str, required: bool) -> str | None:
    if value is None:
        return f"{path}: missing timestamp" if required else None
    if not isinstance(value, datetime):
        return f"{path}: expected a datetime, got {_kind(value)}"
    try:
        value.timestamp()
    except (OverflowError, ValueError, OSError) as exc:
        return f"{path}: timestamp out of range ({exc})"
    return None


def diagnose(contact: Any) -> str | None:
    """The first problem found in `contact`, as `path: what is wrong`, or None if none is found."""
    if not isinstance(contact, Contact):
        return f"expected a Contact, got {_kind(contact)}"
    for attr in _TEXT_ATTRS:
        value = getattr(contact, attr)
        if value is not None and not isinstance(value, str):
            return f"{attr}: expected text, got {_kind(value)}"
    if contact.company_size is not None and (isinstance(contact.company_size, bool)
                                             or not isinstance(contact.company_size, (int, float))):
        return f"company_size: expected a number, got {_kind(contact.company_size)}"
    for attr in ("created_at", "updated_at"):
        problem = _check_time(getattr(contact, attr), attr, required=False)
        if problem:
            return problem
    if contact.override_stage is not None and contact.override_stage not in tuple(Stage):
        return f"override_stage: expected one of {', '.join(Stage)}, got {contact.override_stage!r}"[:200]
    if contact.fields is not None and not isinstance(contact.fields, dict):
        return f"fields: expected a mapping, got {_kind(contact.fields)}"
    for name, items in (("events", contact.events), ("activities", contact.activities), ("deals", contact.deals)):
        if items is not None and not isinstance(items, (list, tuple)):
            return f"{name}: expected a list, got {_kind(items)}"
    for index, event in enumerate(contact.events or ()):
        if not hasattr(event, "type") or not hasattr(event, "at"):
            return f"events[{index}]: expected an event, got {_kind(event)}"
        if not isinstance(event.type, str):
            return f"events[{index}].type: expected text, got {_kind(event.type)}"
        problem = _check_time(event.at, f"events[{index}].at", required=True)
        if problem:
            return problem
    for index, activity in enumerate(contact.activities or ()):
        if not hasattr(activity, "kind") or not hasattr(activity, "at"):
            return f"activities[{index}]: expected an activity, got {_kind(activity)}"
        problem = _check_time(activity.at, f"activities[{index}].at", required=True)
        if problem:
            return problem
        problem = _check_time(getattr(activity, "accepted_at", None), f"activities[{index}].accepted_at",
                              required=False)
        if problem:
            return problem
        if activity.by is not None and not isinstance(activity.by, str):
            return f"activities[{index}].by: expected a user id as text, got {_kind(activity.by)}"
    for index, deal in enumerate(contact.deals or ()):
        if not hasattr(deal, "status"):
            return f"deals[{index}]: expected a deal, got {_kind(deal)}"
        if deal.status not in tuple(DealStatus):
            return f"deals[{index}].status: expected open, won or lost, got {deal.status!r}"[:200]
        if deal.close_date is not None and not isinstance(deal.close_date, date):
            return f"deals[{index}].close_date: expected a date, got {_kind(deal.close_date)}"
        months = deal.contract_months
        if months is not None and (isinstance(months, bool) or not isinstance(months, int)):
            return f"deals[{index}].contract_months: expected a whole number, got {_kind(months)}"
    return None


__all__ = ["diagnose"]
