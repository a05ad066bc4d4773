"""Reading values people typed into a CRM: one bad value fails that field, never the record's page.

CRM fields hold what people typed by hand and what imports left behind: "50-100" or "lots" in a number
field, "next Tuesday" in a date, a 100 KB paste in a name, NUL bytes. A connector maps every raw value of a
record through one `RecordReader`: a value it cannot read becomes unknown (None) and a `RecordProblem`
naming the record, the field and why (never the value: contact data stays out of logs), and the record
goes on with the rest of its fields. `read_record` is the last line of defence around a whole record's
mapping: an unexpected error skips that record, reported the same way, and the page goes on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any, TypeVar

from sync.contract import RecordProblem
from sync.errors import CrmsyncError

T = TypeVar("T")

#: longest text kept from one field; names, titles and needs are far shorter, a paste is cut there
MAX_TEXT = 2_000
#: characters a text never keeps: NUL and the other C0 controls but tab and newline (databases, logs and
#: CRMs downstream reject or mangle them)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:[ ,\u00a0\u202f]\d{3})+|\d+)(?:[.,]\d+)?$")
_RANGE = re.compile(r"^(\d[\d ,.\u00a0\u202f]*)\s*(?:-|–|—|to|à|a)\s*(\d[\d ,.\u00a0\u202f]*)$", re.IGNORECASE)
_OPEN_RANGE = re.compile(r"^(\d[\d ,.\u00a0\u202f]*)\s*(?:\+|or more|and more|et plus|\+ ?employees?)$",
                         re.IGNORECASE)
_EPOCH_MS_DIGITS = 13


class RecordReader:
    """The raw values of one record, read field by field; `problems` collects what could not be read."""

    def __init__(self, record_id: str, object_type: str = "contact") -> None:
        self.record_id = record_id
        self.object_type = object_type
        self.problems: list[RecordProblem] = []

    def problem(self, field: str, reason: str) -> None:
        self.problems.append(RecordProblem(self.record_id, field, reason, self.object_type))

    def text(self, raw: Any, field: str, *, limit: int = MAX_TEXT) -> str | None:
        """Text without control characters, cut at `limit` characters; blank is None."""
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            self.problem(field, f"expected text, got {_kind(raw)}")
            return None
        value = raw if isinstance(raw, str) else str(raw)
        cleaned = _CONTROLS.sub("", value).strip()
        if len(cleaned) > limit:
            self.problem(field, f"longer than {limit:,} characters: cut to {limit:,}")
            cleaned = cleaned[:limit].rstrip()
        return cleaned or None

    def number(self, raw: Any, field: str) -> float | None:
        """A number from a number or its text ("1 200", "1,200", "12,5"); anything else is unknown."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool):
            self.problem(field, "expected a number, got a boolean")
            return None
        if isinstance(raw, (int, float)):
            if isinstance(raw, float) and not math.isfinite(raw):
                self.problem(field, "expected a finite number")
                return None
            return float(raw)
        if isinstance(raw, str):
            parsed = _parse_number(raw)
            if parsed is not None:
                return parsed
            self.problem(field, "not a number (text such as a range or a word)")
            return None
        self.problem(field, f"expected a number, got {_kind(raw)}")
        return None

    def integer(self, raw: Any, field: str) -> int | None:
        value = self.number(raw, field)
        return None if value is None else int(round(value))

    def size_range(self, raw: Any, field: str) -> tuple[int, int | None] | None:
        """A head count as (lowest, highest), highest None when open-ended: "75" is (75, 75), "50-100" is
        (50, 100), "1000+" is (1000, None), as CRMs' own range dropdowns and people's typing write them."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            number = self.integer(raw, field)
            return None if number is None or number < 0 else (number, number)
        if not isinstance(raw, str):
            self.problem(field, f"expected a head count, got {_kind(raw)}")
            return None
        text = _CONTROLS.sub("", raw).strip()
        exact = _parse_number(text)
        if exact is not None and exact >= 0:
            return (int(round(exact)), int(round(exact)))
        if match := _RANGE.match(text):
            low, high = _parse_number(match.group(1)), _parse_number(match.group(2))
            if low is not None and high is not None and 0 <= low <= high:
                return (int(round(low)), int(round(high)))
        if match := _OPEN_RANGE.match(text):
            low = _parse_number(match.group(1))
            if low is not None and low >= 0:
                return (int(round(low)), None)
        self.problem(field, "not a head count or a range of one")
        return None

    def timestamp(self, raw: Any, field: str) -> datetime | None:
        """An aware UTC time from ISO 8601 / RFC 3339 text (a date alone is its midnight UTC), or epoch
        milliseconds (as number or digits); anything else is unknown."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=timezone.utc)
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return self._epoch_ms(float(raw), field)
        if not isinstance(raw, str):
            self.problem(field, f"expected a date and time, got {_kind(raw)}")
            return None
        text = raw.strip()
        if text.isdigit() and len(text) >= _EPOCH_MS_DIGITS - 1:
            return self._epoch_ms(float(text), field)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
        except ValueError:
            self.problem(field, "not an ISO 8601 date and time")
            return None
        return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def day(self, raw: Any, field: str) -> date | None:
        """A calendar date from `YYYY-MM-DD` (or the date part of a timestamp)."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw.strip()[:10])
            except ValueError:
                pass
        self.problem(field, "not an ISO 8601 date")
        return None

    def boolean(self, raw: Any, field: str) -> bool | None:
        """true/false as booleans, "true"/"false", "yes"/"no", "1"/"0" (any case); anything else unknown."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "yes", "1", "oui", "y"}:
            return True
        if text in {"false", "no", "0", "non", "n"}:
            return False
        self.problem(field, "not a yes/no value")
        return None

    def _epoch_ms(self, value: float, field: str) -> datetime | None:
        try:
            return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            self.problem(field, "a timestamp out of range")
            return None


def read_record(record_id: Any, object_type: str, problems: list[RecordProblem],
                mapping: Callable[[], T]) -> T | None:
    """`mapping()`, or None when it fails on this record's data: the record is skipped and reported in
    `problems` with the error's kind, never its text (which can quote the data). crmsync's own errors (an
    API failure, a configuration problem) are not the record's fault and propagate."""
    try:
        return mapping()
    except CrmsyncError:
        raise
    except Exception as exc:  # noqa: BLE001 - any mapping failure is this record's, not the page's
        problems.append(RecordProblem(shown_id(record_id), None, f"unreadable record ({type(exc).__name__})",
                                      object_type))
        return None


def shown_id(raw: Any) -> str:
    """An id as a problem names it (an unreadable one included): printable characters only, cut to 64."""
    text = "".join(character for character in str(raw) if character.isprintable())
    return text[:64] or "?"


def _parse_number(text: str) -> float | None:
    compact = text.strip()
    if not _NUMBER.match(compact):
        return None
    if "," in compact and "." not in compact and re.search(r",\d{1,2}$", compact):
        compact = compact.replace(",", ".")  # a decimal comma: "12,5"
    compact = re.sub(r"[ ,\u00a0\u202f]", "", compact)
    try:
        value = float(compact)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), type(value).__name__)
