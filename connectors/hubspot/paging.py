"""Paginators for HubSpot, as small objects with explicit termination and loop detection.

`AfterPaginator` walks `paging.next.after` tokens (list endpoint, association
pages): it ends when a page has no `paging.next`, and a token seen twice is an
error, never an endless loop.

`KeysetSearch` is the incremental pull. Why search and not the list endpoint:
the list endpoint has no "modified since" filter, so an incremental pull would
re-read the whole account (⌈N/100⌉ calls) every cycle; search filters on
`lastmodifieddate` and pages by 200 (⌈changed/200⌉ calls).

Why keyset pages instead of HubSpot's `after` offsets: an offset page is
recomputed on every request, so a contact modified mid-pull jumps from before
the offset to the end of the result set and shifts every later record back by
one: one unread record per concurrent edit is skipped, and the bookmark then
moves past it for good. Each keyset page is a fresh search
`lastmodifieddate >= T` (T = the last timestamp read, records already emitted at
T skipped), so a concurrent edit can only move a record forward, and no search
ever pages far enough to meet the 10,000-result cap (paging past it is a 400).
The cost is re-reading the boundary record(s): ~1 slot in 200, within 0.5 % of
the ⌈N/200⌉ floor. When a whole page shares one timestamp (bulk imports stamp
thousands of contacts with the same millisecond) the tie group may exceed any
page, so the search switches to `lastmodifieddate = T AND hs_object_id > last
id` sorted by id, which walks a tie group of any size, then resumes strictly
after T. Every query carries `lastmodifieddate <= until` (the pull's start), so a
pull always ends and the bookmark is capped at the time the pull started.

`PullCursor` is the opaque bookmark the engine stores: JSON with the lower bound,
the (id, lastmodifieddate) pairs already emitted at or after it (de-duplication
of the overlap), the tie-walk position, a full listing's `after` token, and the
time of the last archived-contacts sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import msgspec

from sync.errors import PermanentError

CRM = "hubspot"
CURSOR_VERSION = 1

T = TypeVar("T")


class PagingLoop(PermanentError):
    """HubSpot handed back a cursor it had already given: following it would never end."""

    def __init__(self, what: str) -> None:
        super().__init__(f"HubSpot {what}: the same page cursor came back twice; stopping instead of looping",
                         crm=CRM)


class _CursorWire(msgspec.Struct, omit_defaults=True):
    v: int
    since: int
    seen: dict[str, int] = {}
    after_ties: bool = False
    tie_after: int | None = None
    list_after: str | None = None
    archived_checked: int | None = None


@dataclass(frozen=True)
class PullCursor:
    """Where the next pull starts. Times are epoch milliseconds, like HubSpot's own."""

    since: int
    seen: dict[str, int] = field(default_factory=dict)  # id -> lastmodifieddate already emitted, all >= since
    after_ties: bool = False  # every record at exactly `since` was emitted: resume strictly after it
    tie_after: int | None = None  # inside a tie walk at `since`: every id <= this was emitted
    list_after: str | None = None  # inside a full listing: resume it from this token
    archived_checked: int | None = None  # when archived contacts were last swept

    def encode(self) -> str:
        wire = _CursorWire(v=CURSOR_VERSION, since=self.since, seen=self.seen, after_ties=self.after_ties,
                           tie_after=self.tie_after, list_after=self.list_after,
                           archived_checked=self.archived_checked)
        return msgspec.json.encode(wire).decode()

    @classmethod
    def decode(cls, raw: str) -> PullCursor:
        try:
            wire = msgspec.json.decode(raw, type=_CursorWire)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise PermanentError("the stored HubSpot cursor is unreadable; run a full resync", crm=CRM) from None
        if wire.v != CURSOR_VERSION:
            raise PermanentError(f"HubSpot cursor version {wire.v} is not supported; run a full resync", crm=CRM)
        return cls(since=wire.since, seen=dict(wire.seen), after_ties=wire.after_ties, tie_after=wire.tie_after,
                   list_after=wire.list_after, archived_checked=wire.archived_checked)


class AfterPaginator(Generic[T]):
    """Follows `paging.next.after` until a page has none. `fetch(after)` returns (items, next_after)."""

    def __init__(self, fetch: Callable[[str | None], tuple[list[T], str | None]], *, what: str,
                 after: str | None = None) -> None:
        self._fetch = fetch
        self._what = what
        self._after = after
        self._seen: set[str] = set()
        self.pages = 0

    def __iter__(self) -> Iterator[tuple[list[T], str | None]]:
        """Yields each page with the token that resumes after it (None on the last page)."""
        after = self._after
        while True:
            items, following = self._fetch(after)
            self.pages += 1
            if following is not None:
                if following in self._seen or following == after:
                    raise PagingLoop(self._what)
                self._seen.add(following)
            yield items, following
            if following is None:
                return
            after = following


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
    """What the paginator needs of a search result: its id and its lastmodifieddate (ms)."""

    id: str
    modified: int
    record: Any


@dataclass
class KeysetSearch:
    """The incremental pull as a sequence of pages of new rows, each with the cursor that resumes after it."""

    fetch: Callable[[SearchQuery], Sequence[Row]]
    start: PullCursor
    until: int  # the pull's start time: nothing modified later is read, and no bookmark passes it
    page_size: int
    overlap_ms: int = 0
    queries: int = 0

    def __iter__(self) -> Iterator[tuple[list[Row], PullCursor]]:
        start = self.start
        seen = {k: v for k, v in start.seen.items() if v >= start.since}
        since, inclusive, tie_after = start.since, not start.after_ties, start.tie_after
        issued: set[SearchQuery] = set()
        while True:
            query = SearchQuery(since=since, until=self.until, inclusive=inclusive, tie_after=tie_after)
            if query in issued:
                raise PagingLoop("contact search")
            issued.add(query)
            rows = list(self.fetch(query))
            self.queries += 1
            fresh = [row for row in rows if seen.get(row.id) != row.modified]
            for row in rows:
                seen[row.id] = row.modified
            full = len(rows) >= self.page_size
            done = False
            if query.ties:
                if rows:
                    tie_after = max(int(row.id) for row in rows)
                if not full:  # the whole tie group at `since` is read: continue strictly after it
                    tie_after, inclusive = None, False
            elif not rows or not full:
                done = True
            elif rows[0].modified == rows[-1].modified:  # one timestamp fills the page: walk the tie group
                since, inclusive, tie_after = rows[-1].modified, True, 0
            else:
                since, inclusive = rows[-1].modified, True
            yield fresh, self._cursor(seen, since, inclusive, tie_after, done)
            if done:
                return

    def _cursor(self, seen: dict[str, int], since: int, inclusive: bool, tie_after: int | None,
                done: bool) -> PullCursor:
        """Everything below the returned bound was read. The bound never passes `until - overlap` (records
        indexed late are re-checked next time, de-duplicated through `seen`) nor goes below the start."""
        floor = self.start.since
        horizon = self.until - self.overlap_ms
        bound = max(floor, horizon) if done else max(floor, min(since, horizon))
        if bound != since:  # the tie position and exclusivity only hold at `since` itself
            tie_after, inclusive = None, True
        elif tie_after is not None:
            seen = {k: v for k, v in seen.items() if not (v == since and int(k) <= tie_after)}
        kept = {k: v for k, v in seen.items() if v >= bound}
        seen.clear()  # what fell below the bound can never come back: later queries start above it
        seen.update(kept)
        return replace(self.start, since=bound, seen=dict(kept), after_ties=not inclusive, tie_after=tie_after,
                       list_after=None)
