"""HubSpot's incremental pull as keyset pages over search, on the shared cursor; and the reader of the
cursors earlier versions stored.

`KeysetSearch` is the incremental pull. Why search and not the list endpoint: the list endpoint has no
"modified since" filter, so an incremental pull would re-read the whole account (⌈N/100⌉ calls) every
cycle; search filters on `lastmodifieddate` and pages by 200 (⌈changed/200⌉ calls).

Why keyset pages instead of HubSpot's `after` offsets: an offset page is recomputed on every request, so a
contact modified mid-pull jumps from before the offset to the end of the result set and shifts every later
record back by one: one unread record per concurrent edit is skipped, and the bookmark then moves past it
for good. Each keyset page is a fresh search `lastmodifieddate >= T` (T = the last timestamp read, records
already emitted at T skipped), so a concurrent edit can only move a record forward, and no search ever
pages far enough to meet the 10,000-result cap (paging past it is a 400, "CRM API | Search", limitations).
The cost is re-reading the boundary record(s): ~1 slot in 200, within 0.5 % of the ⌈N/200⌉ floor. When a
whole page shares one timestamp (bulk imports stamp thousands of contacts with the same millisecond) the
tie group may exceed any page, so the search switches to `lastmodifieddate = T AND hs_object_id > last id`
sorted by id, which walks a tie group of any size, then resumes strictly after T. Every query carries
`lastmodifieddate <= until` (the pull's start), so a pull always ends and the bookmark is capped at the
time the pull started.

The same search reads deals and each engagement type by their own `hs_lastmodifieddate` (a deal won or a
call logged does not have to change its contacts), each as a stream of its own.

The cursor (`sync.toolkit.cursor.Cursor`): one watermark per searched object (`contacts`, `deals`, `calls`...:
the lower bound and the records emitted at or after it, which de-duplicates the overlap), the `archived`
watermark (when archived contacts were last swept), and as position each stream's tie-walk state
(`after_ties`, `tie_after` for contacts; `deals.after_ties`... for the others) or a full listing's
`list_after` token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.toolkit.cursor import Cursor, Watermark, from_epoch_ms, to_epoch_ms
from sync.toolkit.paging import PagingLoop

CRM = "hubspot"
CONTACTS = "contacts"  # the watermark of the contacts stream
ARCHIVED = "archived"  # `at`: when archived contacts were last swept
LEGACY_VERSION = 1


def contacts_cursor(since: int, seen: Mapping[str, int] | None = None, **position: Any) -> Cursor:
    """A cursor whose contacts mark is `since` (epoch ms) with `seen` (id -> epoch ms) emitted."""
    mark = Watermark(from_epoch_ms(since), {key: from_epoch_ms(millis) for key, millis in (seen or {}).items()})
    return Cursor({CONTACTS: mark}, {key: value for key, value in position.items() if value is not None})


def since_ms(cursor: Cursor, stream: str = CONTACTS) -> int:
    at = cursor.mark(stream).at
    return to_epoch_ms(at) if at is not None else 0


def position_keys(stream: str) -> tuple[str, str]:
    """A stream's tie-walk keys in the cursor's position: (after ties, tie after)."""
    return ("after_ties", "tie_after") if stream == CONTACTS else (f"{stream}.after_ties", f"{stream}.tie_after")


def seen_ms(cursor: Cursor) -> dict[str, int]:
    return {key: to_epoch_ms(stamp) for key, stamp in cursor.mark(CONTACTS).seen.items()}


def legacy_cursor(raw: str) -> Cursor | None:
    """Version 1, JSON `{"v": 1, "since": ms, "seen": {id: ms}, "after_ties", "tie_after", "list_after",
    "archived_checked"}`: read as the same state, so an upgrade resumes where the last pull stopped."""
    wire = json.loads(raw)
    if not isinstance(wire, dict) or wire.get("v") != LEGACY_VERSION:
        return None
    seen = {str(key): int(value) for key, value in (wire.get("seen") or {}).items()}
    cursor = contacts_cursor(int(wire["since"]), seen,
                             after_ties=True if wire.get("after_ties") else None,
                             tie_after=None if wire.get("tie_after") is None else int(wire["tie_after"]),
                             list_after=None if wire.get("list_after") is None else str(wire["list_after"]))
    if wire.get("archived_checked") is not None:
        cursor.marks[ARCHIVED] = Watermark(from_epoch_ms(int(wire["archived_checked"])))
    return cursor


@dataclass(frozen=True)
class SearchQuery:
    """One keyset search. Range: `since <(=) lastmodifieddate <= until`, sorted by it. Ties:
    `lastmodifieddate = since AND hs_object_id > tie_after`, sorted by id."""

    since: int
    until: int
    inclusive: bool = True
    tie_after: int | None = None

    @property
    def ties(self) -> bool:
        return self.tie_after is not None


@dataclass(frozen=True)
class Row:
    """What the search needs of a result: its id and its lastmodifieddate (ms)."""

    id: str
    modified: int
    record: Any


@dataclass
class KeysetSearch:
    """The incremental pull as a sequence of pages of new rows, each with the cursor that resumes after it."""

    fetch: Callable[[SearchQuery], Sequence[Row]]
    start: Cursor
    until: int  # the pull's start time (ms): nothing modified later is read, and no bookmark passes it
    page_size: int
    overlap_ms: int = 0
    queries: int = 0
    stream: str = CONTACTS  # the watermark it reads from and moves

    def __iter__(self) -> Iterator[tuple[list[Row], Cursor]]:
        mark = self.start.mark(self.stream).copy()
        floor = since_ms(self.start, self.stream)
        mark.move_to(from_epoch_ms(floor))
        since = floor
        after_ties_key, tie_after_key = position_keys(self.stream)
        inclusive = not self.start.position.get(after_ties_key, False)
        tie_after: int | None = self.start.position.get(tie_after_key)
        issued: set[SearchQuery] = set()
        while True:
            query = SearchQuery(since=since, until=self.until, inclusive=inclusive, tie_after=tie_after)
            if query in issued:
                raise PagingLoop(CRM, f"hubspot {self.stream} search: the same keyset query came back; stopping "
                                      "instead of looping")
            issued.add(query)
            rows = list(self.fetch(query))
            self.queries += 1
            fresh = [row for row in rows if not mark.already_read(row.id, from_epoch_ms(row.modified))]
            for row in rows:
                mark.remember(row.id, from_epoch_ms(row.modified))
            full = len(rows) >= self.page_size
            done = False
            if query.ties:
                if rows:
                    tie_after = max((int(row.id) for row in rows if row.id.isdigit()), default=tie_after or 0)
                if not full:  # the whole tie group at `since` is read: continue strictly after it
                    tie_after, inclusive = None, False
            elif not rows or not full:
                done = True
            elif rows[0].modified == rows[-1].modified:  # one timestamp fills the page: walk the tie group
                since, inclusive, tie_after = rows[-1].modified, True, 0
            else:
                since, inclusive = rows[-1].modified, True
            yield fresh, self._cursor(mark, since, inclusive, tie_after, done, floor)
            if done:
                return

    def _cursor(self, mark: Watermark, since: int, inclusive: bool, tie_after: int | None, done: bool,
                floor: int) -> Cursor:
        """Everything below the returned bound was read. The bound never passes `until - overlap` (records
        indexed late are re-checked next time, de-duplicated through the mark's seen records) nor goes below
        the start."""
        horizon = self.until - self.overlap_ms
        bound = max(floor, horizon) if done else max(floor, min(since, horizon))
        if bound != since:  # the tie position and exclusivity only hold at `since` itself
            tie_after, inclusive = None, True
        mark.move_to(from_epoch_ms(bound))  # what fell below the bound can never come back
        saved = mark.copy()
        if tie_after is not None:  # the tie position covers these
            at_since = from_epoch_ms(since)
            saved.seen = {key: stamp for key, stamp in saved.seen.items()
                          if not (stamp == at_since and key.isdigit() and int(key) <= tie_after)}
        cursor = self.start.copy()
        cursor.marks[self.stream] = saved
        after_ties_key, tie_after_key = position_keys(self.stream)
        cursor.position = {key: value for key, value in cursor.position.items()
                           if key not in (after_ties_key, tie_after_key, "list_after")}
        cursor.position.update({key: value for key, value in ((after_ties_key, not inclusive or None),
                                                              (tie_after_key, tie_after)) if value is not None})
        return cursor
