"""Paginators and the bookmark, without a connector or a server."""

from __future__ import annotations

import pytest

from connectors.pipedrive.paging import (
    PHASE_PERSONS,
    Bookmark,
    CursorPaginator,
    OffsetPaginator,
    chunked,
)
from sync.errors import PermanentError, TransientError


def cursor_pages(*pages: tuple[list[int], str | None]):
    calls: list[str | None] = []

    def fetch(cursor: str | None) -> dict:
        calls.append(cursor)
        data, nxt = pages[len(calls) - 1]
        return {"success": True, "data": [{"id": i} for i in data], "additional_data": {"next_cursor": nxt}}

    return fetch, calls


def test_cursor_paginator_follows_next_cursor_and_stops_on_null():
    fetch, calls = cursor_pages(([1, 2], "c1"), ([3], "c2"), ([], None))
    paginator = CursorPaginator(fetch)
    assert [[r["id"] for r in page] for page in paginator] == [[1, 2], [3], []]
    assert calls == [None, "c1", "c2"]
    assert paginator.done and paginator.pages == 3


def test_cursor_paginator_refuses_a_cursor_seen_twice():
    fetch, _ = cursor_pages(([1], "c1"), ([2], "c2"), ([3], "c1"))
    with pytest.raises(TransientError, match="same page cursor twice"):
        list(CursorPaginator(fetch))


def test_cursor_paginator_refuses_a_non_list_data():
    with pytest.raises(TransientError):
        list(CursorPaginator(lambda c: {"data": {"id": 1}, "additional_data": {"next_cursor": None}}))


def test_offset_paginator_walks_next_start_and_detects_a_stuck_offset():
    answers = {0: ([1, 2], True, 2), 2: ([3], False, None)}

    def fetch(start: int) -> dict:
        data, more, nxt = answers[start]
        pagination = {"start": start, "limit": 2, "more_items_in_collection": more}
        if nxt is not None:
            pagination["next_start"] = nxt
        return {"data": data, "additional_data": {"pagination": pagination}}

    assert list(OffsetPaginator(fetch)) == [[1, 2], [3]]

    def stuck(start: int) -> dict:
        pagination = {"more_items_in_collection": True, "next_start": 0}
        return {"data": [1], "additional_data": {"pagination": pagination}}

    with pytest.raises(TransientError, match="did not advance"):
        list(OffsetPaginator(stuck))


def test_chunked_respects_the_size_cap():
    assert [len(c) for c in chunked(list(range(250)), 100)] == [100, 100, 50]
    assert list(chunked([], 100)) == []
    with pytest.raises(ValueError):
        list(chunked([1], 0))


def test_bookmark_round_trips_and_stays_opaque():
    mark = Bookmark(
        since="2026-11-01T00:00:00Z",
        until="2026-11-02T09:00:00Z",
        phase=PHASE_PERSONS,
        after_time="2026-11-01T12:00:00Z",
        after_ids=(3, 9),
        after_id=0,
        seen=frozenset({("p", 3, "2026-11-02T08:59:30Z"), ("d", 7, "2026-11-02T08:59:59Z")}),
    )
    encoded = mark.encode()
    assert encoded.startswith("pd1.") and "2026" not in encoded
    assert Bookmark.decode(encoded) == mark
    assert Bookmark.decode(None) == Bookmark()


def test_bookmark_with_thousands_of_tied_ids_stays_compact():
    seen = frozenset(("p", i, "2026-11-02T08:59:59Z") for i in range(10_000))
    encoded = Bookmark(until="2026-11-02T09:00:00Z", seen=seen).encode()
    assert len(encoded) < 60_000
    assert Bookmark.decode(encoded).seen == seen


@pytest.mark.parametrize("bad", ["", "garbage", "pd1.not-base64!", "pd1.eJwLycgsVgCi4tSyzLyUxByFzLxUAA"])
def test_bookmark_rejects_cursors_it_did_not_write(bad):
    with pytest.raises(PermanentError):
        Bookmark.decode(bad)
