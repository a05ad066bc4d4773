"""Paginators and the sync bookmark, as small objects tested without a connector.

Pipedrive pages two ways: v2 lists hand back an opaque `additional_data.next_cursor` (null on the last
page), v1 lists an offset (`additional_data.pagination.next_start` with `more_items_in_collection`). Both
paginators stop explicitly and refuse to loop: a cursor or offset seen twice is an API fault, raised as
a `TransientError` rather than silently re-reading forever.

The bookmark is crmsync's own opaque cursor string: the `[since, until)` window of one pull, the phase
and position inside it (so a crash re-reads at most one page), and the (id, update_time) pairs already
emitted inside the overlap window, so the next pull can re-read that window without emitting them twice.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sync.errors import PermanentError, TransientError

CRM = "pipedrive"
T = TypeVar("T")
JsonDict = dict[str, Any]


class CursorPaginator:
    """Walks a v2 list: `fetch(cursor)` returns one parsed page; stops when `next_cursor` is null."""

    def __init__(
        self, fetch: Callable[[str | None], JsonDict], *, start: str | None = None, max_pages: int = 1_000_000
    ) -> None:
        self._fetch = fetch
        self._cursor = start
        self._seen: set[str] = set()
        self._max_pages = max_pages
        self.pages = 0
        self.done = False

    @property
    def cursor(self) -> str | None:
        """The API cursor of the next page to fetch (None before the first page and after the last)."""
        return self._cursor

    def __iter__(self) -> Iterator[list[JsonDict]]:
        while not self.done:
            body = self._fetch(self._cursor)
            self.pages += 1
            data = body.get("data") or []
            if not isinstance(data, list):
                raise TransientError("Pipedrive list answered a non-list `data`", crm=CRM)
            nxt = (body.get("additional_data") or {}).get("next_cursor")
            if nxt is None:
                self.done = True
                self._cursor = None
            else:
                nxt = str(nxt)
                if nxt in self._seen or nxt == self._cursor:
                    raise TransientError(
                        "Pipedrive returned the same page cursor twice",
                        crm=CRM,
                        detail=f"after {self.pages} pages",
                    )
                self._seen.add(nxt)
                self._cursor = nxt
                if self.pages >= self._max_pages:
                    raise TransientError("Pipedrive list did not end within the page limit", crm=CRM)
            yield data


class OffsetPaginator:
    """Walks a v1 list by `start`/`limit`: stops when `more_items_in_collection` is false."""

    def __init__(self, fetch: Callable[[int], JsonDict]) -> None:
        self._fetch = fetch
        self._start = 0
        self._seen: set[int] = set()
        self.pages = 0

    def __iter__(self) -> Iterator[list[JsonDict]]:
        while True:
            if self._start in self._seen:
                raise TransientError("Pipedrive returned the same page offset twice", crm=CRM)
            self._seen.add(self._start)
            body = self._fetch(self._start)
            self.pages += 1
            data = body.get("data") or []
            yield list(data)
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection"):
                return
            nxt = pagination.get("next_start")
            if not isinstance(nxt, int) or nxt <= self._start:
                raise TransientError("Pipedrive v1 pagination did not advance", crm=CRM)
            self._start = nxt


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Fixed-size slices: `ids=` accepts at most 100 ids per call."""
    if size <= 0:
        raise ValueError("size must be positive")
    for offset in range(0, len(items), size):
        yield list(items[offset : offset + size])


PHASE_DONE = "done"  # the window is complete; the next pull starts a new one at `until`
PHASE_PERSONS = "persons"  # inside the persons stream, after (`after_time`, `after_ids`)
PHASE_TRIGGERED = "triggered"  # fetching persons touched only by deal/activity changes, after `after_id`


@dataclass(frozen=True)
class Bookmark:
    """Where a pull stands. Times are RFC 3339 UTC strings, as Pipedrive takes them."""

    since: str | None = None  # lower bound (inclusive) of the window being read; None = full pull
    until: str | None = None  # upper bound (exclusive), the pull's start time, so nothing in flight is lost
    phase: str = PHASE_DONE
    after_time: str | None = None
    after_ids: tuple[int, ...] = ()
    after_id: int = 0
    # (kind, id, update_time) emitted at or after `until - overlap`: skipped when the next pull re-reads them
    seen: frozenset[tuple[str, int, str]] = field(default_factory=frozenset)

    def encode(self) -> str:
        raw = {
            "v": 1,
            "s": self.since,
            "u": self.until,
            "p": self.phase,
            "at": self.after_time,
            "ai": list(self.after_ids),
            "aid": self.after_id,
            "seen": sorted([k, i, t] for k, i, t in self.seen),
        }
        packed = zlib.compress(json.dumps(raw, separators=(",", ":")).encode(), 9)
        return "pd1." + base64.urlsafe_b64encode(packed).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> Bookmark:
        if cursor is None:
            return cls()
        try:
            if not cursor.startswith("pd1."):
                raise ValueError("unknown cursor version")
            payload = cursor[4:]
            raw = json.loads(zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
            return cls(
                since=raw["s"],
                until=raw["u"],
                phase=str(raw["p"]),
                after_time=raw["at"],
                after_ids=tuple(int(i) for i in raw["ai"]),
                after_id=int(raw["aid"]),
                seen=frozenset((str(k), int(i), str(t)) for k, i, t in raw["seen"]),
            )
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            raise PermanentError(
                "the Pipedrive sync cursor is not one this connector wrote",
                crm=CRM,
                detail=type(exc).__name__,
            ) from None

    def moved(self, **changes: Any) -> Bookmark:
        return replace(self, **changes)
