"""The incremental cursor every connector stores: per stream a high-water mark and the records already
emitted at or after it, plus where an unfinished pull resumes. One object, serialised one way.

Why the records at the boundary: a CRM's modification stamps are not unique (a bulk update stamps
thousands of records with the same millisecond), so a pull reads again from the mark *inclusive*
(`>=`), and from the mark back by an overlap window where the CRM indexes late or clocks may be skewed.
Re-reading is how nothing is lost; the (id, stamp) pairs already emitted are how nothing is emitted twice:
a record read again with the stamp it was emitted with is skipped, one modified since is not. The mark
never passes the moment a pull started, so a record committed late with an earlier stamp is read by the
next pull.

`Watermark` is one stream's state (HubSpot's contacts, Salesforce's Lead and Contact, Pipedrive's persons,
deals and activities, or a plain "last done at" such as the last archived-contacts sweep); `Cursor` holds
them by name with `position`, the connector's place inside an unfinished pull (a page token, a phase), so
a crash re-reads at most one page. dlt's `Incremental` (its `last_value` and the hashes of the records at
it) is the model.

On the wire: compact JSON, `{"v": 2, "marks": {stream: {"at": ISO-8601, "seen": {ISO-8601: "id,id"}}},
"position": {...}}`, stamps in UTC, keys (record ids, never containing a comma) grouped by stamp. Cursors
stored by earlier versions are read once through the connector's `legacy` reader (migration on read), so
an upgrade never forces a full resync; the next page stores the new form.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sync.errors import PermanentError

VERSION = 2
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_epoch_ms(millis: int) -> datetime:
    """An epoch-milliseconds stamp (HubSpot's) as an exact UTC datetime."""
    return EPOCH + timedelta(milliseconds=millis)


def to_epoch_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def format_stamp(moment: datetime) -> str:
    """UTC ISO 8601, milliseconds unless the stamp has finer ones, so every stamp round-trips exactly."""
    moment = moment.astimezone(timezone.utc)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_stamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"stamp {text!r} has no time zone")
    return moment.astimezone(timezone.utc)


@dataclass
class Watermark:
    """One stream: everything stamped before `at` was read; of what is stamped at or after it, `seen`
    (id -> stamp) was emitted already and is skipped when read again with the same stamp."""

    at: datetime | None = None
    seen: dict[str, datetime] = field(default_factory=dict)

    def already_read(self, key: str, stamp: datetime | None) -> bool:
        return stamp is not None and self.seen.get(key) == stamp

    def remember(self, key: str, stamp: datetime) -> None:
        """`key` was emitted with `stamp`; kept while the stamp is at or above the mark."""
        if self.at is None or stamp >= self.at:
            self.seen[key] = stamp

    def move_to(self, at: datetime) -> None:
        """The mark is now `at`: what is stamped below it can never be read again, so it is forgotten."""
        self.at = at
        self.seen = {key: stamp for key, stamp in self.seen.items() if stamp >= at}

    def read(self, key: str, stamp: datetime, *, cap: datetime | None = None) -> None:
        """After emitting a record of a stream read in stamp order: the mark moves up to its stamp, never
        past `cap` (the pull's start), and the record is remembered."""
        bound = stamp if cap is None else min(stamp, cap)
        if self.at is None or bound > self.at:
            self.move_to(bound)
        self.remember(key, stamp)

    def copy(self) -> Watermark:
        return Watermark(self.at, dict(self.seen))

    def to_wire(self) -> dict[str, Any]:
        grouped: dict[str, list[str]] = {}
        for key, stamp in self.seen.items():
            grouped.setdefault(format_stamp(stamp), []).append(key)
        wire: dict[str, Any] = {"at": format_stamp(self.at) if self.at else None}
        if grouped:  # keys by stamp, comma-joined: a bulk update puts thousands of ids on one stamp
            wire["seen"] = {stamp: ",".join(sorted(keys)) for stamp, keys in sorted(grouped.items())}
        return wire

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Watermark:
        at = wire.get("at")
        seen = {key: parse_stamp(stamp) for stamp, keys in (wire.get("seen") or {}).items()
                for key in str(keys).split(",")}
        return cls(parse_stamp(at) if at else None, seen)

    @classmethod
    def of(cls, at: datetime | None, seen: Iterable[tuple[str, datetime]] = ()) -> Watermark:
        return cls(at, dict(seen))


@dataclass
class Cursor:
    """Every stream's watermark and the position inside an unfinished pull. Mutable while a pull runs;
    each page hands the engine `encode()` of the state after it."""

    marks: dict[str, Watermark] = field(default_factory=dict)
    position: dict[str, Any] = field(default_factory=dict)  # JSON values only

    def mark(self, stream: str) -> Watermark:
        """The stream's watermark, created empty (nothing read yet) on first use."""
        return self.marks.setdefault(stream, Watermark())

    def copy(self) -> Cursor:
        return Cursor({name: mark.copy() for name, mark in self.marks.items()}, dict(self.position))

    def encode(self) -> str:
        wire = {"v": VERSION, "marks": {name: mark.to_wire() for name, mark in sorted(self.marks.items())}}
        if self.position:
            wire["position"] = self.position
        return json.dumps(wire, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, raw: str | None, *, crm: str,
               legacy: Callable[[str], Cursor | None] | None = None) -> Cursor:
        """The cursor a connector stored; an empty one (a full pull) for None. A cursor of an earlier version
        is read by `legacy`, which returns None for text it does not know."""
        if not raw:
            return cls()
        try:
            wire = json.loads(raw)
        except ValueError:
            wire = None
        try:
            if isinstance(wire, dict) and wire.get("v") == VERSION:
                return cls({str(name): Watermark.from_wire(mark) for name, mark in wire["marks"].items()},
                           dict(wire.get("position") or {}))
            migrated = legacy(raw) if legacy is not None else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _unreadable(crm, type(exc).__name__) from None
        if migrated is None:
            raise _unreadable(crm, "unknown format")
        return migrated


def _unreadable(crm: str, detail: str) -> PermanentError:
    return PermanentError(f"the saved {crm} cursor cannot be read; reset the account's cursor to pull "
                          "everything again", crm=crm, detail=detail)
