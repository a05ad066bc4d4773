"""Paginators: one base with explicit termination and loop detection, and the three ways the CRMs page
as small subclasses.

The base walks pages: `fetch(token)` returns one page (None asks for the first); `has_more(page)` says
whether another follows and `next(page)` names it. The stronger check crmsync has always made holds for
every CRM: a token seen at any earlier page of the walk, not only the one just used, is an error
(`PagingLoop`), never an endless walk that spends the account's daily budget; so is a page that says more
follow and names nothing. The check runs before the page is handed out, so a pull never commits a page
whose follower it cannot read.

- `TokenPaginator`: an opaque "next" token in the body (HubSpot `paging.next.after`, Pipedrive v2
  `additional_data.next_cursor`); the walk ends on a page without one.
- `OffsetPaginator`: a numeric offset (Pipedrive v1 `start`, with `more_items_in_collection` and
  `next_start`); an offset that does not advance is an error too.
- `NextUrlPaginator`: Salesforce query results, `done` and `nextRecordsUrl` (REST API Developer Guide,
  "Execute a SOQL Query": "If the initial query returns only part of the results, the end of the response
  will contain a field called nextRecordsUrl").

Modelled on the Singer SDK's `BaseAPIPaginator` (`has_more`, `get_next`), tested without a connector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from sync.errors import TransientError

Token = TypeVar("Token")
Page = Any
JsonDict = dict[str, Any]


class PagingLoop(TransientError):
    """The API's paging broke its own rules (a token handed back twice, or none where more follow). The pull
    stops; the next run starts again from the last durable cursor."""

    def __init__(self, crm: str, message: str) -> None:
        super().__init__(message, crm=crm)


class Paginator(ABC, Generic[Token]):
    """Iterates the items of each page. After each page, `token` names the next one (None once done). A
    subclass that forgets a hook fails when it is built, not on its first page."""

    def __init__(self, fetch: Callable[[Token | None], Page], *, crm: str, what: str,
                 start: Token | None = None) -> None:
        self._fetch = fetch
        self.crm = crm
        self.what = what  # for messages: "contact list", "persons"
        self.token: Token | None = start
        self._used: set[Token] = set() if start is None else {start}
        self.pages = 0
        self.done = False

    # -- hooks -------------------------------------------------------------------------------------------

    @abstractmethod
    def items(self, page: Page) -> list[Any]: ...

    @abstractmethod
    def has_more(self, page: Page) -> bool: ...

    @abstractmethod
    def next(self, page: Page) -> Token | None: ...

    # -- the walk ----------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[list[Any]]:
        while not self.done:
            page = self._fetch(self.token)
            self.pages += 1
            items = self.items(page)
            if self.has_more(page):
                following = self.next(page)
                if following is None:
                    raise PagingLoop(self.crm, f"{self.crm} {self.what}: a page says more follow but names "
                                               "none")
                if following in self._used:
                    raise PagingLoop(self.crm, f"{self.crm} {self.what}: the same page token came back twice "
                                               f"(after {self.pages} pages); stopping instead of looping")
                self._used.add(following)
                self.token = following
            else:
                self.token, self.done = None, True
            yield items


class TokenPaginator(Paginator[str]):
    """An opaque next-page token found in the body by `find(page)`; the items under `items_key`."""

    def __init__(self, fetch: Callable[[str | None], Page], *, crm: str, what: str,
                 find: Callable[[Page], Any], items_key: str, start: str | None = None) -> None:
        super().__init__(fetch, crm=crm, what=what, start=start)
        self._find = find
        self._items_key = items_key

    def items(self, page: Page) -> list[Any]:
        found = page.get(self._items_key) or []
        if not isinstance(found, list):
            raise TransientError(f"{self.crm} {self.what}: `{self._items_key}` is not a list", crm=self.crm)
        return found

    def has_more(self, page: Page) -> bool:
        return self._find(page) not in (None, "")

    def next(self, page: Page) -> str | None:
        found = self._find(page)
        return None if found in (None, "") else str(found)


class OffsetPaginator(Paginator[int]):
    """A numeric offset: Pipedrive v1 lists (`additional_data.pagination`)."""

    def __init__(self, fetch: Callable[[int], Page], *, crm: str, what: str) -> None:
        super().__init__(fetch, crm=crm, what=what, start=0)  # type: ignore[arg-type]

    def items(self, page: Page) -> list[Any]:
        return list(page.get("data") or [])

    def _pagination(self, page: Page) -> JsonDict:
        return (page.get("additional_data") or {}).get("pagination") or {}

    def has_more(self, page: Page) -> bool:
        return bool(self._pagination(page).get("more_items_in_collection"))

    def next(self, page: Page) -> int | None:
        following = self._pagination(page).get("next_start")
        if not isinstance(following, int) or following <= (self.token or 0):
            raise PagingLoop(self.crm, f"{self.crm} {self.what}: the page offset did not advance")
        return following


class NextUrlPaginator(Paginator[str]):
    """Salesforce query results: the first page from the query, each next one from its `nextRecordsUrl`."""

    def __init__(self, fetch: Callable[[str | None], Page], *, crm: str, what: str = "query") -> None:
        super().__init__(fetch, crm=crm, what=what)
        self.total_size: int | None = None

    def items(self, page: Page) -> list[Any]:
        if self.total_size is None:
            self.total_size = page.get("totalSize")
        records = page.get("records")
        if not isinstance(records, list):
            raise PagingLoop(self.crm, f"{self.crm} {self.what}: a query page without a records list")
        return records

    def has_more(self, page: Page) -> bool:
        return not page.get("done", True)

    def next(self, page: Page) -> str | None:
        return page.get("nextRecordsUrl") or None
