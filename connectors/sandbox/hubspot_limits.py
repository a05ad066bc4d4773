"""HubSpot's rate limits as the sandbox counts them: a rolling 10-second burst window, a per-second window
for search, a daily counter (reset at midnight of the sandbox clock), the `X-HubSpot-RateLimit-*` headers
that report them, and, with `enforce_limits`, HubSpot's 429 answer once one is spent."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.wrappers import Response

from connectors.sandbox.hubspot_errors import rate_limit_response


@dataclass
class Limits:
    """HubSpot's Free/Starter private-app limits; tests shrink them to reach them quickly."""

    burst: int = 100
    burst_window_ms: int = 10_000
    search_per_second: int = 5
    daily: int = 250_000
    search_result_cap: int = 10_000
    list_max: int = 100
    search_max: int = 200
    batch_max: int = 100
    history_batch_max: int = 50  # a batch read asking for property history
    association_batch_max: int = 1000
    association_page: int = 500
    inline_association_cap: int = 100


class RateCounter:
    """Counts every call against `limits` (read live: a test may shrink them while the sandbox runs) and
    refuses, when `enforce` is on, the one that would go over. Thread-safe; times are sandbox-clock ms."""

    def __init__(self, limits: Limits, *, enforce: bool, now: Callable[[], int],
                 correlation: Callable[[], str]) -> None:
        self.limits = limits
        self.enforce = enforce
        self._now = now
        self._correlation = correlation
        self._lock = threading.Lock()
        self._burst: deque[int] = deque()
        self._search: deque[int] = deque()
        self._daily_used = 0
        self._day = -1

    def admit(self, search: bool) -> Response | None:
        """Count one call (search calls have their own window, never the burst's); None lets it through,
        else the 429 HubSpot answers."""
        now = self._now()
        with self._lock:
            day = now // 86_400_000
            if day != self._day:
                self._day, self._daily_used = day, 0
            while self._burst and self._burst[0] <= now - self.limits.burst_window_ms:
                self._burst.popleft()
            while self._search and self._search[0] <= now - 1000:
                self._search.popleft()
            if self.enforce:
                if self._daily_used >= self.limits.daily:
                    return rate_limit_response("DAILY", self._correlation())
                if search and len(self._search) >= self.limits.search_per_second:
                    return rate_limit_response("SECONDLY", self._correlation())
                if not search and len(self._burst) >= self.limits.burst:
                    return rate_limit_response("TEN_SECONDLY_ROLLING", self._correlation(),
                                               headers=self._headers_locked())
            self._daily_used += 1
            (self._search if search else self._burst).append(now)
        return None

    def headers(self, *, daily: bool) -> dict[str, str]:
        """The rate-limit headers of a non-search answer; `daily` for private-app tokens only (OAuth apps
        get no daily headers)."""
        with self._lock:
            headers = self._headers_locked()
        if not daily:
            headers = {key: value for key, value in headers.items() if "Daily" not in key}
        return headers

    def _headers_locked(self) -> dict[str, str]:
        return {"X-HubSpot-RateLimit-Max": str(self.limits.burst),
                "X-HubSpot-RateLimit-Remaining": str(max(self.limits.burst - len(self._burst), 0)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.limits.burst_window_ms),
                "X-HubSpot-RateLimit-Daily": str(self.limits.daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.limits.daily - self._daily_used, 0))}
