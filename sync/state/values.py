"""Field values as the state store keeps them: one canonical JSON text per value.

The diff that decides what to push compares these texts, so the encoding must be
canonical and must keep types apart: `True`, `1` and `1.0` are three different
values for a CRM field, and a due time must come back as a datetime, not as the
string that looks like one. Datetimes are tagged (`{"$dt": "..."}`) and always
normalised to UTC with microseconds, so the same instant always encodes the same.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sync.contract import FieldValue

_DT = "$dt"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not allowed in field values: give them a time zone")
    return value.astimezone(timezone.utc)


def encode_value(value: FieldValue) -> str:
    """The canonical text of a field value."""
    if isinstance(value, datetime):
        return json.dumps({_DT: _utc(value).isoformat(timespec="microseconds")}, separators=(",", ":"))
    if value is None or isinstance(value, (bool, int, float, str)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    raise TypeError(f"not a field value: {type(value).__name__}")


def decode_value(text: str) -> FieldValue:
    data: Any = json.loads(text)
    if isinstance(data, dict):
        return datetime.fromisoformat(data[_DT])
    if data is None or isinstance(data, (bool, int, float, str)):
        return data  # type: ignore[no-any-return]
    raise ValueError(f"not an encoded field value: {text[:40]!r}")

