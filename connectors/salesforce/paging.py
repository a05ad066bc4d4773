"""Salesforce's paging pieces on the toolkit: SOQL result pages, id lists cut to the URI limit, the
stream cursor, and the reader of the cursors earlier versions stored.

* `soql_pages` follows `nextRecordsUrl` until `done` (`sync.toolkit.paging.NextUrlPaginator`).
* `chunk_ids` cuts an `Id IN (...)` list so the encoded query URL stays under Salesforce's URI limit
  ("Request Size Limits" in the REST API Developer Guide: 16,384 bytes for the URI).
* The cursor (`sync.toolkit.cursor.Cursor`): `SystemModstamp` is not unique (a bulk update stamps thousands
  of rows with the same second), so each stream (`Lead`, `Contact`) reads `SystemModstamp >= T` again and
  skips the records already emitted at or after T (keyed apart when read as deleted: incremental pulls
  read deletions in the same stream); records modified at T but not yet seen are not lost.
* The mark is a whole second. Stamps have milliseconds but a SOQL datetime literal has whole seconds only
  ("Date Formats and Date Literals in WHERE", SOQL and SOSL Reference), so `>= T` reads back from the
  start of T's second: the mark is kept at that second and the watermark remembers every record emitted
  from it on (`advance`), else the records earlier in that second would be emitted again by every pull.
  Once a stream has been read to its end, everything stamped before the pull started has been seen, and
  the mark moves to the second the pull started in (`settle`): a pull with nothing changed since then
  reads no record at all. The mark never passes the moment the pull started, so a row committed late with
  an earlier stamp is read by the next pull. The `related` mark is the (whole) second the last finished
  pull first started in (an interrupted pull keeps its first start in the cursor's position), from which
  related records (activities, deals, campaign responses) are looked up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from sync.toolkit.cursor import Cursor, Watermark
from sync.toolkit.paging import NextUrlPaginator

from connectors.salesforce.mapping import CRM
from connectors.salesforce.values import parse_time, soql_datetime

RELATED = "related"  # at: the start of the last finished pull
LEGACY_VERSION = 1
DELETED = "/deleted"  # the key suffix of a record read as deleted


def stream_key(record_id: str, *, deleted: bool = False) -> str:
    """Live and deleted reads are kept apart: a record read live at T and deleted within the same second
    comes back with the same stamp, and its deletion must still be reported, once."""
    return f"{record_id}{DELETED}" if deleted else record_id


def whole_second(moment: datetime) -> datetime:
    """The start of `moment`'s second: what a SOQL datetime literal can say."""
    return moment.replace(microsecond=0)


def advance(mark: Watermark, key: str, stamp: datetime, *, cap: datetime) -> None:
    """After emitting a record of a stream read in `SystemModstamp` order: the mark moves up to the start of
    the record's second (never past `cap`, the second the pull started in) and the record is remembered,
    so a query from that second skips it."""
    bound = min(whole_second(stamp), cap)
    if mark.at is None or bound > mark.at:
        mark.move_to(bound)
    mark.remember(key, stamp)


def settle(mark: Watermark, started: datetime) -> None:
    """A stream was read to its end by a query sent after `started`: nothing stamped before then is left
    unread, so the mark moves to the second `started` falls in (what is remembered from before it is
    forgotten: no query reaches back there)."""
    second = whole_second(started)
    if mark.at is None or second > mark.at:
        mark.move_to(second)


def since_clause(mark: Watermark) -> str | None:
    return f"SystemModstamp >= {soql_datetime(mark.at)}" if mark.at else None


def soql_pages(first: Callable[[], Mapping[str, Any]],
               more: Callable[[str], Mapping[str, Any]]) -> NextUrlPaginator:
    """The record lists of one SOQL query: the first page, then each `nextRecordsUrl`."""
    return NextUrlPaginator(lambda url: first() if url is None else more(url), crm=CRM)


def chunk_ids(
    ids: Iterable[str], render: Callable[[list[str]], str], max_chars: int, max_ids: int = 2000
) -> Iterator[list[str]]:
    """Split ids so that `render(chunk)`, URL-encoded as `q=`, stays within `max_chars`."""
    base = len(quote_plus(render([])))
    chunk: list[str] = []
    size = base
    for record_id in ids:
        cost = len(quote_plus(f"'{record_id}', "))
        if chunk and (size + cost > max_chars or len(chunk) >= max_ids):
            yield chunk
            chunk, size = [], base
        chunk.append(record_id)
        size += cost
    if chunk:
        yield chunk


def in_list(ids: Iterable[str]) -> str:
    return ", ".join(f"'{record_id}'" for record_id in ids)


def related_since(cursor: Cursor) -> datetime | None:
    mark = cursor.marks.get(RELATED)
    return mark.at if mark is not None else None


def legacy_cursor(raw: str) -> Cursor | None:
    """Version 1, JSON `{"v": 1, "since": time, "marks": {sobject: {"at": time, "ids": [...], "gone": [...]}}}`,
    whose ids were the ones read at exactly `at`: read as the same state."""
    wire = json.loads(raw)
    if not isinstance(wire, dict) or wire.get("v") != LEGACY_VERSION:
        return None
    marks: dict[str, Watermark] = {}
    for sobject, old in (wire.get("marks") or {}).items():
        at = parse_time(old.get("at"))
        seen = [] if at is None else [
            *((stream_key(record_id), at) for record_id in old.get("ids", ())),
            *((stream_key(record_id, deleted=True), at) for record_id in old.get("gone", ())),
        ]
        marks[str(sobject)] = Watermark.of(at, seen)
    since = parse_time(wire.get("since"))
    if since is not None:
        marks[RELATED] = Watermark(since)
    return Cursor(marks)
