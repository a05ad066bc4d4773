"""The paginators without a connector: explicit termination, the repeated-token check, one error class."""

from __future__ import annotations

import pytest

from sync.errors import TransientError
from sync.toolkit.paging import NextUrlPaginator, OffsetPaginator, PagingLoop, TokenPaginator


def token_pages(*pages: tuple[list[int], str | None]):
    calls: list[str | None] = []

    def fetch(token: str | None) -> dict:
        calls.append(token)
        data, following = pages[len(calls) - 1]
        return {"data": [{"id": i} for i in data], "next": following}

    return fetch, calls


def walk(fetch, **options) -> TokenPaginator:
    return TokenPaginator(fetch, crm="crm", what="list", find=lambda page: page.get("next"), items_key="data",
                          **options)


def test_a_token_walk_follows_the_next_token_and_stops_without_one():
    fetch, calls = token_pages(([1, 2], "c1"), ([3], "c2"), ([], None))
    paginator = walk(fetch)
    assert [[row["id"] for row in page] for page in paginator] == [[1, 2], [3], []]
    assert calls == [None, "c1", "c2"] and paginator.done and paginator.pages == 3 and paginator.token is None


def test_the_token_after_each_page_resumes_the_walk():
    fetch, _ = token_pages(([1], "c1"), ([2], "c2"), ([3], None))
    paginator = walk(fetch)
    tokens = [paginator.token for _ in paginator]
    assert tokens == ["c1", "c2", None]
    resumed_fetch, calls = token_pages(([2], "c2"), ([3], None))
    assert [[row["id"] for row in page] for page in walk(resumed_fetch, start="c1")] == [[2], [3]]
    assert calls == ["c1", "c2"]


@pytest.mark.parametrize("pages", [
    (([1], "c1"), ([2], "c2"), ([3], "c1")),  # a token from two pages back: the stronger check
    (([1], "c1"), ([2], "c1")),  # the token just used
])
def test_a_repeated_token_is_an_error_before_the_page_is_handed_out(pages):
    fetch, _ = token_pages(*pages)
    handed_out = []
    with pytest.raises(PagingLoop, match="came back twice"):
        for page in walk(fetch):
            handed_out.append(page)
    assert len(handed_out) == len(pages) - 1
    assert issubclass(PagingLoop, TransientError)


def test_a_resumed_walk_refuses_the_token_it_started_from():
    fetch, _ = token_pages(([1], "c1"))
    with pytest.raises(PagingLoop):
        list(walk(fetch, start="c1"))


def test_a_non_list_page_is_refused():
    with pytest.raises(TransientError):
        list(walk(lambda token: {"data": {"id": 1}, "next": None}))


def test_an_offset_walk_follows_next_start_and_detects_a_stuck_offset():
    answers = {0: ([1, 2], True, 2), 2: ([3], False, None)}

    def fetch(start: int) -> dict:
        data, more, following = answers[start]
        pagination = {"start": start, "limit": 2, "more_items_in_collection": more}
        if following is not None:
            pagination["next_start"] = following
        return {"data": data, "additional_data": {"pagination": pagination}}

    assert list(OffsetPaginator(fetch, crm="crm", what="fields")) == [[1, 2], [3]]

    def stuck(start: int) -> dict:
        return {"data": [1], "additional_data": {"pagination": {"more_items_in_collection": True, "next_start": 0}}}

    with pytest.raises(PagingLoop, match="did not advance"):
        list(OffsetPaginator(stuck, crm="crm", what="fields"))


def query_page(records, next_url=None, done=None):
    return {"totalSize": 9, "done": next_url is None if done is None else done, "records": records,
            **({"nextRecordsUrl": next_url} if next_url else {})}


def test_a_next_url_walk_stops_when_done_and_refuses_an_unfinished_page_without_a_url():
    pages = {None: query_page([1], "/q-2"), "/q-2": query_page([2])}
    paginator = NextUrlPaginator(lambda url: pages[url], crm="salesforce")
    assert list(paginator) == [[1], [2]] and paginator.total_size == 9
    with pytest.raises(PagingLoop, match="names none"):
        list(NextUrlPaginator(lambda url: query_page([], done=False), crm="salesforce"))
    with pytest.raises(PagingLoop, match="came back twice"):
        list(NextUrlPaginator(lambda url: query_page([1], "/q-1"), crm="salesforce"))
    with pytest.raises(PagingLoop, match="records"):
        list(NextUrlPaginator(lambda url: {"done": True}, crm="salesforce"))
