"""The report as the CLI writes it and as the daemon serves it at `/report`.

The daemon renders on request from the state store (read-only queries), one render at a time, and serves a
page rendered less than `max_age` ago again: a dashboard refreshing every few seconds, or several people
opening the page at once, cost one render, not one each. The query string takes the CLI's options:
`/report?since=30d&account=hubspot`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sync.clock import Clock
from sync.insight.period import parse_span
from sync.insight.report import build_report
from sync.state import AccountRef, StateStore
from sync.state.reporting import select_accounts

DEFAULT_SINCE = "90d"


def report_html(store: StateStore, *, now: datetime, since: timedelta, accounts: Sequence[AccountRef] | None = None,
                teams: Mapping[str, str] | None = None) -> str:
    """The whole page for `accounts` (None: all) over `since` before `now`."""
    from sync.insight.page import render  # imports the chart library: only when a report is drawn

    return render(build_report(store, now=now, since=since, accounts=accounts, teams=teams))


class ReportPage:
    """`/report` for the daemon: `page(query)` gives the HTML; raises ValueError on a bad `since`."""

    def __init__(self, store: StateStore, clock: Clock, *, max_age: timedelta = timedelta(seconds=30),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.max_age = max_age.total_seconds()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, str]] = {}

    def __call__(self, query: Mapping[str, str]) -> str:
        since_text = query.get("since") or DEFAULT_SINCE
        since = parse_span(since_text)
        wanted = tuple(sorted(v for v in (query.get("account") or "").split(",") if v))
        key = (since_text, wanted)
        with self._lock:  # one render at a time; the others wait and take its result
            cached = self._cache.get(key)
            if cached is not None and self._monotonic() - cached[0] < self.max_age:
                return cached[1]
            accounts = select_accounts(self.store, wanted) if wanted else None
            page = report_html(self.store, now=self.clock.now(), since=since, accounts=accounts)
            self._cache = {key: (self._monotonic(), page)}  # keep one page: the memory stays bounded
            return page


__all__ = ["DEFAULT_SINCE", "ReportPage", "report_html"]
