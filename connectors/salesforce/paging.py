"""Paging through SOQL results and keeping the incremental bookmark.

Three small pieces, each testable without a connector:

* `SoqlPaginator` follows `nextRecordsUrl` until `done`, and stops with an error on a page that is not
  done but names no next page, or names a page already read (a server that loops would otherwise keep
  a pull running for ever, spending the daily allocation).
* `chunk_ids` cuts an `Id IN (...)` list so the encoded query URL stays under Salesforce's URI limit.
* `Watermark` / `PullCursor`: the bookmark. `SystemModstamp` is not unique (a bulk update stamps thousands
  of rows with the same second), so a pull reads `SystemModstamp >= T` again and skips the ids already
  seen *at* T (live and deleted ones apart: incremental pulls read deletions in the same stream); ids
  modified at T but not yet seen are not lost. The watermark never passes the moment the pull started,
  so a row committed late with an earlier stamp is read by the next pull.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from sync.errors import PermanentError

from connectors.salesforce.mapping import CRM, format_datetime, parse_datetime, soql_datetime

CURSOR_VERSION = 1


class PaginationError(PermanentError):
    """The API's paging broke its own rules (a repeated or missing next page)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, crm=CRM)


class SoqlPaginator:
    """Iterates the record lists of one SOQL query: the first page, then each `nextRecordsUrl`."""

    def __init__(
        self, first: Callable[[], Mapping[str, Any]], more: Callable[[str], Mapping[str, Any]]
    ) -> None:
        self._first = first
        self._more = more
        self._seen: set[str] = set()
        self.pages = 0
        self.total_size: int | None = None

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        result = self._first()
        while True:
            self.pages += 1
            if self.total_size is None:
                self.total_size = result.get("totalSize")
            records = result.get("records")
            if not isinstance(records, list):
                raise PaginationError("Salesforce query page without a records list")
            yield records
            if result.get("done", True):
                return
            next_url = result.get("nextRecordsUrl")
            if not next_url:
                raise PaginationError("Salesforce query page is not done but names no nextRecordsUrl")
            if next_url in self._seen:
                raise PaginationError(
                    f"Salesforce returned the same next page twice ({next_url.rsplit('/', 1)[-1]})"
                )
            self._seen.add(next_url)
            result = self._more(next_url)


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
    return ", ".join(f"'{i}'" for i in ids)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Everything up to `at` is read, and of the rows stamped exactly `at`, those in `ids` (live) and those in
    `gone` (read as deleted). Kept apart because a record read live at `at` and deleted within the same second
    comes back with the same stamp: its deletion must still be reported, once."""

    at: datetime | None = None
    ids: frozenset[str] = frozenset()
    gone: frozenset[str] = frozenset()

    def where(self) -> str | None:
        return f"SystemModstamp >= {soql_datetime(self.at)}" if self.at else None

    def already_read(self, record_id: str, stamp: datetime | None, *, deleted: bool = False) -> bool:
        return self.at is not None and stamp == self.at and record_id in (self.gone if deleted else self.ids)

    def advance(
        self, record_id: str, stamp: datetime | None, cap: datetime, *, deleted: bool = False
    ) -> Watermark:
        """After reading a row: stamps past `cap` (written while this pull runs) do not move it further."""
        if stamp is None:
            return self
        stamp = min(stamp, cap)
        added = frozenset({record_id})
        if self.at is None or stamp > self.at:
            return Watermark(stamp, frozenset() if deleted else added, added if deleted else frozenset())
        if stamp == self.at:
            if deleted:
                return Watermark(stamp, self.ids, self.gone | added)
            return Watermark(stamp, self.ids | added, self.gone)
        return self

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": format_datetime(self.at) if self.at else None, "ids": sorted(self.ids)}
        if self.gone:
            out["gone"] = sorted(self.gone)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Watermark:
        if not data:
            return cls()
        return cls(
            parse_datetime(data.get("at")), frozenset(data.get("ids", ())), frozenset(data.get("gone", ()))
        )


@dataclass(frozen=True, slots=True)
class PullCursor:
    """Where a pull resumes: one watermark per stream, and `since`, the start of the last finished pull,
    from which related records (activities, deals, campaign responses) and deletions are looked up."""

    marks: dict[str, Watermark] = field(default_factory=dict)
    since: datetime | None = None

    def mark(self, sobject: str) -> Watermark:
        return self.marks.get(sobject, Watermark())

    def with_mark(self, sobject: str, mark: Watermark) -> PullCursor:
        return PullCursor({**self.marks, sobject: mark}, self.since)

    def encode(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "since": format_datetime(self.since) if self.since else None,
                "marks": {k: m.to_json() for k, m in sorted(self.marks.items())},
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def decode(cls, raw: str | None) -> PullCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError(f"cursor version {data.get('v')!r}")
            return cls(
                {k: Watermark.from_json(v) for k, v in data.get("marks", {}).items()},
                parse_datetime(data.get("since")),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise PermanentError(
                "the saved Salesforce cursor cannot be read; reset the account's cursor to "
                "pull everything again",
                crm=CRM,
                detail=str(exc),
            ) from None
