"""Pipedrive's pull window on the shared cursor, and the reader of the cursors earlier versions stored.

Pipedrive pages two ways, both served by `sync.toolkit.paging`: v2 lists hand back an opaque
`additional_data.next_cursor` (null on the last page, `list_pages`), v1 lists an offset
(`additional_data.pagination`, `OffsetPaginator`).

A pull reads one window `[since, until)`: `until` is the pull's start, `since` the previous window's end
less `overlap_s`. `Window` is how the connector reads the shared `Cursor`: the marks `persons`, `deals` and
`activities` (at: the window's start; seen: the records emitted in the previous window's overlap tail,
skipped when read again unchanged), `person_ids` (at: when the ids Pipedrive still has were last compared
with the engine's, see `reconcile`) and, while a window is in progress, its position: the phase, `until`,
and where inside the window the pull stands (so a crash re-reads at most one page).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from connectors.pipedrive.mapping import format_rfc3339, parse_time
from sync.toolkit.cursor import Cursor, Watermark
from sync.toolkit.paging import TokenPaginator

CRM = "pipedrive"
JsonDict = dict[str, Any]

PERSONS, DEALS, ACTIVITIES = "persons", "deals", "activities"  # the streams, each with its watermark
RECONCILED = "person_ids"  # when the ids Pipedrive still has were last compared with the engine's
PHASE_PERSONS = "persons"  # inside the persons stream, after (`after_time`, `after_ids`)
PHASE_TRIGGERED = "triggered"  # fetching persons touched only by deal/activity changes, after `after_id`
PHASE_RECONCILE = "reconcile"  # the window is read; the ids still to compare (see `reconcile`)
LEGACY_PREFIX = "pd1."
_LEGACY_KINDS = {"p": PERSONS, "d": DEALS, "a": ACTIVITIES}


def next_cursor(body: JsonDict) -> Any:
    return (body.get("additional_data") or {}).get("next_cursor")


def list_pages(fetch: Callable[[str | None], JsonDict], *, what: str) -> TokenPaginator:
    """A v2 list: `fetch(cursor)` returns one parsed page; the walk stops when `next_cursor` is null."""
    return TokenPaginator(fetch, crm=CRM, what=what, find=next_cursor, items_key="data")


Seen = tuple[str, int, str]  # (stream, id, update_time) of a record emitted in the window's overlap tail


@dataclass(frozen=True)
class Window:
    """Where a pull stands. Times are RFC 3339 UTC strings, as Pipedrive takes them."""

    since: str | None = None  # lower bound (inclusive) of the window; None = full pull
    until: str | None = None  # upper bound (exclusive), the pull's start, so nothing in flight is lost
    phase: str | None = None  # None: no window in progress; the next starts at `since`
    after_time: str | None = None
    after_ids: tuple[int, ...] = ()
    after_id: int = 0
    seen: frozenset[Seen] = field(default_factory=frozenset)  # the previous window's overlap tail
    reconciled: str | None = None  # when the person ids were last compared (see `reconcile`)

    def already_read(self, stream: str, record_id: int, updated: str) -> bool:
        stamp = parse_time(updated)
        return (stream, record_id, format_rfc3339(stamp) if stamp else updated) in self.seen

    def moved(self, **changes: Any) -> Window:
        return replace(self, **changes)

    def finished(self, tail: Iterable[Seen], overlap: timedelta) -> Window:
        """The window is read: the next one starts `overlap` before its end, skipping what its tail emitted."""
        until = parse_time(self.until)
        assert until is not None
        return Window(since=format_rfc3339(until - overlap), seen=frozenset(tail), reconciled=self.reconciled)

    def encode(self) -> str:
        at = parse_time(self.since)
        marks: dict[str, Watermark] = {stream: Watermark(at) for stream in (PERSONS, DEALS, ACTIVITIES)}
        for stream, record_id, updated in self.seen:
            stamp = parse_time(updated)
            if stamp is not None:
                marks[stream].seen[str(record_id)] = stamp
        if self.reconciled is not None:
            marks[RECONCILED] = Watermark(parse_time(self.reconciled))
        position: dict[str, Any] = {}
        if self.phase is not None:
            position = {"phase": self.phase, "until": self.until, "after_time": self.after_time,
                        "after_ids": list(self.after_ids), "after_id": self.after_id}
        return Cursor(marks, position).encode()

    @classmethod
    def decode(cls, raw: str | None, *, overlap: timedelta) -> Window:
        cursor = Cursor.decode(raw, crm=CRM, legacy=lambda text: legacy_cursor(text, overlap=overlap))
        persons = cursor.marks.get(PERSONS)
        at = persons.at if persons is not None else None
        seen = frozenset((stream, int(key), format_rfc3339(stamp)) for stream, mark in cursor.marks.items()
                         if stream != RECONCILED for key, stamp in mark.seen.items())
        reconciled = cursor.marks.get(RECONCILED)
        position = cursor.position
        return cls(since=format_rfc3339(at) if at else None, until=position.get("until"),
                   phase=position.get("phase"), after_time=position.get("after_time"),
                   after_ids=tuple(int(person_id) for person_id in position.get("after_ids") or ()),
                   after_id=int(position.get("after_id") or 0), seen=seen,
                   reconciled=format_rfc3339(reconciled.at) if reconciled is not None and reconciled.at else None)


def legacy_cursor(raw: str, *, overlap: timedelta) -> Cursor | None:
    """Version 1: `pd1.` + base64 of zlib-compressed JSON `{v, s, u, p, at, ai, aid, seen: [[kind, id,
    update_time]]}`, whose finished windows kept their end (`u`); read as the same state, the next window
    starting `overlap` before that end."""
    if not raw.startswith(LEGACY_PREFIX):
        return None
    payload = raw[len(LEGACY_PREFIX):]
    try:
        old = json.loads(zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except zlib.error:
        raise ValueError("not a zlib stream") from None
    seen = frozenset((_LEGACY_KINDS[str(kind)], int(record_id), str(updated))
                     for kind, record_id, updated in old["seen"])
    if old["p"] == "done":
        window = Window(until=old["u"], phase=PHASE_PERSONS).finished(seen, overlap) if old["u"] else Window()
    else:
        window = Window(since=old["s"], until=old["u"], phase=str(old["p"]), after_time=old["at"],
                        after_ids=tuple(int(person_id) for person_id in old["ai"]), after_id=int(old["aid"]), seen=seen)
    return Cursor.decode(window.encode(), crm=CRM)

