"""Paginator, id chunking and bookmark logic, without a connector or a server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote_plus

import pytest

from sync.errors import PermanentError

from connectors.salesforce.mapping import same_id, sobject_of, to18
from connectors.salesforce.paging import (
    PaginationError,
    PullCursor,
    SoqlPaginator,
    Watermark,
    chunk_ids,
    in_list,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def page(records, next_url=None):
    return {
        "totalSize": 99,
        "done": next_url is None,
        "records": records,
        **({"nextRecordsUrl": next_url} if next_url else {}),
    }


def test_paginator_follows_next_records_url_until_done():
    pages = {"/q/1-2": page([{"Id": 3}], "/q/1-3"), "/q/1-3": page([{"Id": 4}])}
    seen = []
    pager = SoqlPaginator(
        lambda: page([{"Id": 1}, {"Id": 2}], "/q/1-2"), lambda url: seen.append(url) or pages[url]
    )
    assert [r["Id"] for batch in pager for r in batch] == [1, 2, 3, 4]
    assert seen == ["/q/1-2", "/q/1-3"] and pager.pages == 3 and pager.total_size == 99


def test_paginator_refuses_a_repeated_cursor():
    pager = SoqlPaginator(lambda: page([{"Id": 1}], "/q/1-1"), lambda url: page([{"Id": 2}], "/q/1-1"))
    with pytest.raises(PaginationError, match="same next page twice"):
        list(pager)


def test_paginator_refuses_an_unfinished_page_without_next_url():
    pager = SoqlPaginator(lambda: {"done": False, "records": []}, lambda url: page([]))
    with pytest.raises(PaginationError, match="names no nextRecordsUrl"):
        list(pager)


def test_chunks_keep_the_encoded_query_under_the_limit():
    ids = [to18(f"003{i:012d}") for i in range(2000)]

    def render(chunk):
        return f"SELECT Id FROM Task WHERE WhoId IN ({in_list(chunk)})"

    chunks = list(chunk_ids(ids, render, 4000))
    assert [i for c in chunks for i in c] == ids
    assert all(len(quote_plus(render(c))) <= 4000 for c in chunks)
    assert len(chunks) > 1 and all(len(c) > 50 for c in chunks[:-1])


def test_watermark_skips_only_ids_already_read_at_the_boundary():
    mark = (
        Watermark()
        .advance("a", T0, cap=T0 + timedelta(hours=1))
        .advance("b", T0, cap=T0 + timedelta(hours=1))
    )
    assert mark.at == T0 and mark.ids == {"a", "b"}
    assert mark.already_read("a", T0) and not mark.already_read("c", T0)
    assert not mark.already_read("a", T0 + timedelta(seconds=1))  # modified again since: read again
    assert mark.where() == "SystemModstamp >= 2026-11-02T09:00:00Z"


def test_watermark_keeps_live_and_deleted_reads_apart():
    cap = T0 + timedelta(hours=1)
    mark = Watermark().advance("a", T0, cap=cap).advance("b", T0, cap=cap, deleted=True)
    assert mark.ids == {"a"} and mark.gone == {"b"}
    assert mark.already_read("b", T0, deleted=True) and not mark.already_read("b", T0)
    assert not mark.already_read("a", T0, deleted=True)  # read live, deleted in the same second: report it
    later = mark.advance("c", T0 + timedelta(seconds=1), cap=cap, deleted=True)
    assert later.ids == frozenset() and later.gone == {"c"}
    assert Watermark.from_json(mark.to_json()) == mark
    assert "gone" not in Watermark(T0, frozenset({"a"})).to_json()  # cursors without deletions read as before


def test_watermark_never_passes_the_pull_start():
    mark = Watermark().advance("a", T0 + timedelta(minutes=5), cap=T0)
    assert mark.at == T0 and mark.ids == {"a"}


def test_cursor_round_trips_and_rejects_garbage():
    cursor = PullCursor({"Lead": Watermark(T0, frozenset({"x"}))}, since=T0)
    assert PullCursor.decode(cursor.encode()) == cursor
    assert PullCursor.decode(None) == PullCursor()
    for bad in ("{", '{"v": 99}', "[1]"):
        with pytest.raises(PermanentError, match="cursor"):
            PullCursor.decode(bad)


def test_ids_normalise_from_15_to_18_characters():
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert same_id("001A0000006Vm9r", "001A0000006VM9RIAC")
    assert sobject_of("00Q8d0000000001EAA") == "Lead" and sobject_of("0038d0000000001AAA") == "Contact"
    with pytest.raises(ValueError):
        to18("not-an-id")
