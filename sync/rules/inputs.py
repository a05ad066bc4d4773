"""Contacts and memories from admin-written files: one contact (JSON or YAML) or many (JSON lines).

Admin files may give times relative to the evaluation instant ("-3d", "-2h",
"-90m", "-1w", "now"), so a case or an example keeps meaning the same thing
whatever day it is read. Every contact is type-checked with the same rules as
a connector's (`msgspec.convert` into `sync.model.Contact`); a bad one is
reported with its position in the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

from sync.configfile import Loc, PositionedDocument, read_yaml
from sync.errors import ConfigError, ConfigIssue
from sync.model import Contact
from sync.rules.decision import ContactMemory

_RELATIVE = re.compile(r"^\s*(now)?\s*([+-]\s*\d+(?:\.\d+)?\s*[wdhm])?\s*$")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_TIME_KEYS = frozenset({"at", "created_at", "updated_at", "qualified_at", "accepted_at"})
_DATE_KEYS = frozenset({"close_date"})


def relative_time(text: str, now: datetime) -> datetime | None:
    """`now`, `-3d`, `now-2h`, `+1w`... as an absolute time; None when `text` is not relative."""
    match = _RELATIVE.match(text)
    if not match or not (match.group(1) or match.group(2)):
        return None
    offset = match.group(2)
    if not offset:
        return now
    offset = offset.replace(" ", "")
    try:
        return now + float(offset[:-1]) * _UNITS[offset[-1]]
    except (OverflowError, ValueError):  # "-99999999999w": before year 1
        return None


def resolve_times(data: Any, now: datetime) -> Any:
    """A copy of `data` with relative times under time keys made absolute (and naive ones made UTC)."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in _TIME_KEYS and isinstance(value, str):
                value = relative_time(value, now) or value
            elif key in _DATE_KEYS and isinstance(value, str):
                moment = relative_time(value, now)
                value = moment.date() if moment is not None else value
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            out[key] = resolve_times(value, now)
        return out
    if isinstance(data, list):
        return [resolve_times(item, now) for item in data]
    return data


def _msgspec_loc(error: msgspec.ValidationError) -> tuple[Loc, str]:
    """(`$.events[0].at` as a loc, the message without its path) from a msgspec error."""
    text = str(error)
    message, _, path = text.rpartition(" - at `")
    if not message:
        return (), text
    loc: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[`]+)|\[(\d+)\]", path.rstrip("`")):
        loc.append(int(index) if index else name)
    return tuple(loc), message


def contact_from_data(data: Any, now: datetime, doc: PositionedDocument | None = None, loc: Loc = ()) -> Contact:
    """A contact from parsed data, relative times resolved; a ConfigError located in `doc` when it is bad."""
    try:
        return msgspec.convert(resolve_times(data, now), Contact)
    except msgspec.ValidationError as exc:
        where, message = _msgspec_loc(exc)
        if doc is None:
            raise ConfigError([ConfigIssue("<contact>", 1, 1, f"contact: {message} at {'.'.join(map(str, where))}")]
                              ) from None
        path = ".".join(str(part) for part in where)
        raise ConfigError([doc.issue((*loc, *where), f"contact{'.' if path else ''}{path}: {message}")]) from None


def memory_from_data(data: Any, now: datetime) -> ContactMemory:
    data = resolve_times(data or {}, now)
    try:
        return msgspec.convert(data, ContactMemory)
    except msgspec.ValidationError as exc:
        raise ValueError(f"memory: {exc}") from None


def read_contact(path: str | Path, now: datetime) -> Contact:
    """One contact from a JSON or YAML file (JSON is YAML), relative times resolved against `now`."""
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigIssue(str(path), 1, 1, "expected one contact: a mapping with crm, id, ...")])
    return contact_from_data(doc.data, now, doc)


MAX_LINE = 1_048_576  # bytes of one contact line: a contact with its history is a few KB


def iter_contacts_jsonl(path: str | Path, now: datetime) -> Iterator[tuple[int, Contact | str]]:
    """(line number, contact or the error text) for each non-empty line of a JSON-lines file, lazily. Each
    error is located, `PATH:LINE:COL: message`: a line that is not UTF-8, not JSON, or not a contact is
    skipped and reported, the others are still read."""
    with open(path, "rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                    raw = handle.readline(MAX_LINE)
                yield number, f"{path}:{number}:1: line longer than {MAX_LINE:,} bytes, skipped"
                continue
            if not raw.strip():
                continue
            yield number, _contact_line(raw, number, path, now)


def _contact_line(raw: bytes, number: int, path: str | Path, now: datetime) -> Contact | str:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{path}:{number}:{exc.start + 1}: not UTF-8 text ({exc.reason})"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"{path}:{number}:{exc.colno}: not JSON: {exc.msg}"
    except RecursionError:
        return f"{path}:{number}:1: not JSON: nested too deeply"
    try:
        return msgspec.convert(resolve_times(data, now), Contact)
    except msgspec.ValidationError as exc:
        where, message = _msgspec_loc(exc)
        at = ".".join(str(part) for part in where)
        return f"{path}:{number}:1: contact{'.' if at else ''}{at}: {message}"
    except RecursionError:
        return f"{path}:{number}:1: contact nested too deeply"


__all__ = ["contact_from_data", "iter_contacts_jsonl", "memory_from_data", "read_contact", "relative_time",
           "resolve_times"]
