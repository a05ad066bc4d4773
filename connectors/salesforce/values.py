"""Salesforce's ids and times, read and written: 15- and 18-character ids, key prefixes, record datetimes
(`2024-01-17T19:55:04.000+0000`) and SOQL datetime literals (whole seconds)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

KEY_PREFIXES = {
    "00Q": "Lead",
    "003": "Contact",
    "006": "Opportunity",
    "00T": "Task",
    "00U": "Event",
    "701": "Campaign",
    "001": "Account",
    "005": "User",
}
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_SHAPE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


# --- ids ---------------------------------------------------------------------------------------------


def to18(record_id: str) -> str:
    """The 18-character, case-insensitive form of a Salesforce id (15-char ids come from the UI and
    reports). Raises ValueError for anything else."""
    if not isinstance(record_id, str) or not _ID_SHAPE.match(record_id):
        raise ValueError("not a Salesforce id (15 or 18 letters and digits)")
    if len(record_id) == 18:
        return record_id
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << index for index, character in enumerate(record_id[chunk * 5 : chunk * 5 + 5])
                   if "A" <= character <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return record_id + suffix


def read_id(raw: Any) -> str | None:
    """`to18(raw)`, or None when `raw` is not a Salesforce id."""
    try:
        return to18(raw)
    except ValueError:
        return None


def sobject_of(record_id: str) -> str | None:
    """The sObject type a record id belongs to, from its key prefix."""
    return KEY_PREFIXES.get(record_id[:3])


def same_id(first: str | None, second: str | None) -> bool:
    if first is None or second is None:
        return first is second
    try:
        return to18(first).lower() == to18(second).lower()
    except ValueError:
        return first == second


# --- time --------------------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """`2024-01-17T19:55:04.000+0000` (records) or `...Z` -> aware UTC datetime. Raises ValueError on text
    that is not one."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def read_time(value: Any) -> datetime | None:
    """`parse_time`, or None for anything that is not a Salesforce datetime."""
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def format_datetime(value: datetime) -> str:
    """The record format Salesforce returns and accepts: millisecond precision, `+0000`."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (unquoted, whole seconds: SOQL literals carry no fraction)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) if day else None
