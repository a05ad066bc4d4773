"""The paginators on their own, with in-memory fetchers: termination, loop detection, keyset semantics."""

from __future__ import annotations

import pytest

from connectors.hubspot.paging import AfterPaginator, KeysetSearch, PagingLoop, PullCursor, Row, SearchQuery
from sync.errors import PermanentError


class FakeSearch:
    """HubSpot search over (id, lastmodifieddate) pairs, honouring the keyset query; ties come back in an
    arbitrary (reversed id) order, as nothing promises HubSpot orders them."""

    def __init__(self, rows: dict[str, int], page: int) -> None:
        self.rows = rows
        self.page = page
        self.queries: list[SearchQuery] = []

    def __call__(self, q: SearchQuery) -> list[Row]:
        self.queries.append(q)
        if q.ties:
            hits = sorted((int(i), m) for i, m in self.rows.items() if m == q.since and int(i) > q.tie_after)
            return [Row(str(i), m, None) for i, m in hits[:self.page]]
        hits = [(m, -int(i)) for i, m in self.rows.items()
                if (m >= q.since if q.inclusive else m > q.since) and m <= q.until]
        return [Row(str(-i), m, None) for m, i in sorted(hits)[:self.page]]


def run(search: KeysetSearch) -> tuple[list[str], PullCursor]:
    emitted, cursor = [], search.start
    for rows, cursor in search:
        emitted.extend(r.id for r in rows)
    return emitted, cursor


def test_cursor_round_trips_and_rejects_garbage():
    cursor = PullCursor(since=5, seen={"1": 5}, after_ties=True, tie_after=9, archived_checked=3)
    assert PullCursor.decode(cursor.encode()) == cursor
    with pytest.raises(PermanentError):
        PullCursor.decode("{not json")
    with pytest.raises(PermanentError):
        PullCursor.decode('{"v": 99, "since": 1}')


def test_after_paginator_ends_without_a_next_token_and_refuses_a_loop():
    pages = {None: ([1, 2], "a"), "a": ([3], "b"), "b": ([4], None)}
    assert [items for items, _ in AfterPaginator(lambda after: pages[after], what="t")] == [[1, 2], [3], [4]]
    looping = {None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")}
    with pytest.raises(PagingLoop):
        list(AfterPaginator(lambda after: looping[after], what="t"))


def test_keyset_search_emits_each_record_once_across_a_tie_group_larger_than_a_page():
    rows = {str(i): 100 + (i // 10) for i in range(1, 40)} | {str(i): 500 for i in range(40, 95)}
    fetch = FakeSearch(rows, page=10)
    emitted, cursor = run(KeysetSearch(fetch, PullCursor(since=0), until=1000, page_size=10))
    assert sorted(emitted, key=int) == sorted(rows, key=int) and len(emitted) == len(rows)
    assert any(q.ties for q in fetch.queries)
    assert cursor.since == 1000 and cursor.seen == {}


def test_keyset_search_resumes_from_any_page_cursor_without_losing_records():
    rows = {str(i): 10 * (i // 3) for i in range(1, 60)}
    cursors = [c for _, c in KeysetSearch(FakeSearch(rows, page=7), PullCursor(since=0), until=900, page_size=7)]
    for cursor in cursors:
        before = {i for i, m in rows.items() if m < cursor.since or cursor.seen.get(i) == m}
        after, _ = run(KeysetSearch(FakeSearch(rows, page=7), cursor, until=900, page_size=7))
        assert before | set(after) == set(rows)


def test_keyset_search_caps_the_bookmark_and_keeps_the_overlap_for_deduplication():
    rows = {"1": 100, "2": 950, "3": 990, "4": 1500}
    emitted, cursor = run(KeysetSearch(FakeSearch(rows, page=10), PullCursor(since=0), until=1000, page_size=10,
                                       overlap_ms=60))
    assert emitted == ["1", "2", "3"]  # "4" changed after the pull started: the next pull reads it
    assert cursor.since == 940 and cursor.seen == {"2": 950, "3": 990}
    again, _ = run(KeysetSearch(FakeSearch(rows, page=10), cursor, until=2000, page_size=10))
    assert again == ["4"]


def test_keyset_search_detects_a_query_that_would_repeat():
    def stuck(q: SearchQuery) -> list[Row]:
        return [Row(str(n), 7, None) for n in range(1, 11)]  # ignores the tie filter: same ids forever

    with pytest.raises(PagingLoop):
        run(KeysetSearch(stuck, PullCursor(since=0), until=100, page_size=10))
