"""How the conditions read CRM values: CRMs return numbers, dates and checkboxes as text, lists for
multi-selects, and anything at all in custom fields. A value that cannot be read as what a condition asks
for is simply not a signal; it never raises."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Any

# in French as in English: a French CRM's checkbox or yes/no picklist reads "Oui" / "Non"
_TRUE = frozenset({"true", "yes", "1", "on", "y", "oui", "vrai", "o"})
_FALSE = frozenset({"false", "no", "0", "off", "n", "non", "faux"})


_NUMBER_START = frozenset("0123456789+-.,")
_NUMBER_END = frozenset("0123456789.,")


def to_number(value: Any) -> float | None:
    """A number from an int, a float or numeric text ("5000", "12.5", "12,5"); None for anything else or NaN."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()[:64]
        # most text in a custom field is not a number: answer without raising (an exception costs a microsecond)
        if not text or not (text[0] in _NUMBER_START and text[-1] in _NUMBER_END):
            return None
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def to_epoch(value: Any) -> float | None:
    """Epoch seconds from a datetime (naive means UTC), a date (midnight UTC) or ISO-8601 text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip()[:64])
        except ValueError:
            return None
    try:
        if isinstance(value, datetime):
            moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
            return moment.timestamp()
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    except (OverflowError, ValueError, OSError):  # year 1 or 9999 in a far time zone
        return None
    return None


def to_bool(value: Any) -> bool | None:
    """A checkbox: booleans, 0/1, and the texts true/false, yes/no, 1/0, on/off, y/n, oui/non, vrai/faux."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return None


def is_empty(value: Any) -> bool:
    """Missing, null, blank text or an empty collection."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, set)):
        return not value
    return False


__all__ = ["is_empty", "to_bool", "to_epoch", "to_number"]
