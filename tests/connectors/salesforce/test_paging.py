"""Paginator, id chunking and bookmark logic, without a connector or a server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote_plus

import pytest

from sync.errors import PermanentError

from connectors.salesforce.values import same_id, sobject_of, to18
from connectors.salesforce.paging import (
    chunk_ids,
    in_list,
    legacy_cursor,
    related_since,
    since_clause,
    soql_pages,
    stream_key,
)
from sync.toolkit.cursor import Cursor, Watermark

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def decode(raw):
    return Cursor.decode(raw, crm="salesforce", legacy=legacy_cursor)


def page(records, next_url=None):
    return {
        "totalSize": 99,
        "done": next_url is None,
        "records": records,
        **({"nextRecordsUrl": next_url} if next_url else {}),
    }


def test_soql_pages_follow_next_records_url_until_done():
    pages = {"/q/1-2": page([{"Id": 3}], "/q/1-3"), "/q/1-3": page([{"Id": 4}])}
    seen = []
    pager = soql_pages(lambda: page([{"Id": 1}, {"Id": 2}], "/q/1-2"), lambda url: seen.append(url) or pages[url])
    assert [r["Id"] for batch in pager for r in batch] == [1, 2, 3, 4]
    assert seen == ["/q/1-2", "/q/1-3"] and pager.pages == 3 and pager.total_size == 99


def test_chunks_keep_the_encoded_query_under_the_limit():
    ids = [to18(f"003{i:012d}") for i in range(2000)]

    def render(chunk):
        return f"SELECT Id FROM Task WHERE WhoId IN ({in_list(chunk)})"

    chunks = list(chunk_ids(ids, render, 4000))
    assert [i for c in chunks for i in c] == ids
    assert all(len(quote_plus(render(c))) <= 4000 for c in chunks)
    assert len(chunks) > 1 and all(len(c) > 50 for c in chunks[:-1])


def test_the_stream_mark_skips_only_records_already_read_at_the_boundary():
    mark = Watermark()
    mark.read(stream_key("a"), T0, cap=T0 + timedelta(hours=1))
    mark.read(stream_key("b"), T0, cap=T0 + timedelta(hours=1))
    assert mark.at == T0 and set(mark.seen) == {"a", "b"}
    assert mark.already_read("a", T0) and not mark.already_read("c", T0)
    assert not mark.already_read("a", T0 + timedelta(seconds=1))  # modified again since: read again
    assert since_clause(mark) == "SystemModstamp >= 2026-11-02T09:00:00Z"


def test_live_and_deleted_reads_are_kept_apart():
    cap = T0 + timedelta(hours=1)
    mark = Watermark()
    mark.read(stream_key("a"), T0, cap=cap)
    mark.read(stream_key("b", deleted=True), T0, cap=cap)
    assert mark.already_read(stream_key("b", deleted=True), T0) and not mark.already_read(stream_key("b"), T0)
    assert not mark.already_read(stream_key("a", deleted=True), T0)  # read live, deleted in the same second
    mark.read(stream_key("c", deleted=True), T0 + timedelta(seconds=1), cap=cap)
    assert set(mark.seen) == {stream_key("c", deleted=True)}


def test_the_mark_never_passes_the_pull_start():
    mark = Watermark()
    mark.read("a", T0 + timedelta(minutes=5), cap=T0)
    assert mark.at == T0 and mark.already_read("a", T0 + timedelta(minutes=5))


def test_a_version_1_cursor_is_read_as_the_same_state_and_garbage_is_refused():
    legacy = ('{"v":1,"since":"2026-11-02T09:00:00.000+0000","marks":{"Lead":{"at":"2026-11-02T09:00:00.000+0000",'
              '"ids":["x"],"gone":["y"]},"Contact":{"at":null,"ids":[]}}}')
    cursor = decode(legacy)
    assert cursor.marks["Lead"].at == T0 and related_since(cursor) == T0
    assert cursor.marks["Lead"].already_read("x", T0) and cursor.marks["Lead"].already_read("y/deleted", T0)
    assert cursor.marks["Contact"].at is None
    assert decode(cursor.encode()) == cursor
    assert decode(None) == Cursor()
    for bad in ("{", '{"v": 99}', "[1]"):
        with pytest.raises(PermanentError, match="cursor"):
            decode(bad)


def test_ids_normalise_from_15_to_18_characters():
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert same_id("001A0000006Vm9r", "001A0000006VM9RIAC")
    assert sobject_of("00Q8d0000000001EAA") == "Lead" and sobject_of("0038d0000000001AAA") == "Contact"
    with pytest.raises(ValueError):
        to18("not-an-id")
