"""The paginators on their own, with in-memory fetchers: termination, loop detection, keyset semantics."""

from __future__ import annotations

import pytest

from connectors.hubspot.paging import (
    ARCHIVED,
    KeysetSearch,
    Row,
    SearchQuery,
    contacts_cursor,
    legacy_cursor,
    seen_ms,
    since_ms,
)
from sync.errors import PermanentError
from sync.toolkit.cursor import Cursor, to_epoch_ms
from sync.toolkit.paging import PagingLoop


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


def run(search: KeysetSearch) -> tuple[list[str], Cursor]:
    emitted, cursor = [], search.start
    for rows, cursor in search:
        emitted.extend(r.id for r in rows)
    return emitted, cursor


def decode(raw: str) -> Cursor:
    return Cursor.decode(raw, crm="hubspot", legacy=legacy_cursor)


def test_a_version_1_cursor_is_read_as_the_same_state_and_garbage_is_refused():
    legacy = ('{"v":1,"since":5,"seen":{"1":5},"after_ties":true,"tie_after":9,"list_after":"tok",'
              '"archived_checked":3}')
    cursor = decode(legacy)
    assert since_ms(cursor) == 5 and seen_ms(cursor) == {"1": 5}
    assert cursor.position == {"after_ties": True, "tie_after": 9, "list_after": "tok"}
    assert to_epoch_ms(cursor.marks[ARCHIVED].at) == 3
    assert decode(cursor.encode()) == cursor
    with pytest.raises(PermanentError):
        decode("{not json")
    with pytest.raises(PermanentError):
        decode('{"v": 99, "since": 1}')


def test_keyset_search_emits_each_record_once_across_a_tie_group_larger_than_a_page():
    rows = {str(i): 100 + (i // 10) for i in range(1, 40)} | {str(i): 500 for i in range(40, 95)}
    fetch = FakeSearch(rows, page=10)
    emitted, cursor = run(KeysetSearch(fetch, contacts_cursor(0), until=1000, page_size=10))
    assert sorted(emitted, key=int) == sorted(rows, key=int) and len(emitted) == len(rows)
    assert any(q.ties for q in fetch.queries)
    assert since_ms(cursor) == 1000 and seen_ms(cursor) == {}


def test_keyset_search_resumes_from_any_page_cursor_without_losing_records():
    rows = {str(i): 10 * (i // 3) for i in range(1, 60)}
    cursors = [c for _, c in KeysetSearch(FakeSearch(rows, page=7), contacts_cursor(0), until=900, page_size=7)]
    for cursor in cursors:
        before = {i for i, m in rows.items() if m < since_ms(cursor) or seen_ms(cursor).get(i) == m}
        after, _ = run(KeysetSearch(FakeSearch(rows, page=7), cursor, until=900, page_size=7))
        assert before | set(after) == set(rows)


def test_keyset_search_caps_the_bookmark_and_keeps_the_overlap_for_deduplication():
    rows = {"1": 100, "2": 950, "3": 990, "4": 1500}
    emitted, cursor = run(KeysetSearch(FakeSearch(rows, page=10), contacts_cursor(0), until=1000, page_size=10,
                                       overlap_ms=60))
    assert emitted == ["1", "2", "3"]  # "4" changed after the pull started: the next pull reads it
    assert since_ms(cursor) == 940 and seen_ms(cursor) == {"2": 950, "3": 990}
    again, _ = run(KeysetSearch(FakeSearch(rows, page=10), cursor, until=2000, page_size=10))
    assert again == ["4"]


def test_keyset_search_detects_a_query_that_would_repeat():
    def stuck(q: SearchQuery) -> list[Row]:
        return [Row(str(n), 7, None) for n in range(1, 11)]  # ignores the tie filter: same ids forever

    with pytest.raises(PagingLoop):
        run(KeysetSearch(stuck, contacts_cursor(0), until=100, page_size=10))
