"""Client-side pacing per CRM account, so the daemon stays under the documented budgets instead of
learning them from 429s (HubSpot asks that errors stay under 5 % of calls; Pipedrive escalates ignored
429s to a Cloudflare block).

A sliding-window limiter for bursts (N calls or tokens per window) and a daily budget that refuses,
rather than sleeps, once spent. Both can be corrected by what the CRM reports in its headers, since
other integrations share the same budget. Clock and sleep are injected.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from sync.errors import RateLimited


class SlidingWindowLimiter:
    """At most `capacity` units per `window` seconds (HubSpot 100-190 calls / 10 s, Pipedrive 20-120 / 2 s)."""

    def __init__(
        self,
        capacity: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity <= 0 or window <= 0:
            raise ValueError("capacity and window must be positive")
        self.capacity = capacity
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._spent: deque[tuple[float, int]] = deque()
        self._used = 0
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent pacing, reported by benchmarks

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window:
            self._used -= self._spent.popleft()[1]

    def acquire(self, cost: int = 1) -> None:
        cost = min(cost, self.capacity)
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                if self._used + cost <= self.capacity:
                    self._spent.append((now, cost))
                    self._used += cost
                    return
                wait = self._spent[0][0] + self.window - now
            wait = max(wait, 0.001)
            self.waited += wait
            self._sleep(wait)

    def hold_off(self, seconds: float) -> None:
        """The CRM said the window is spent (remaining 0, reset in `seconds`): fill it until then."""
        with self._lock:
            now = self._clock()
            self._spent.clear()
            self._spent.append((now + seconds - self.window, self.capacity))
            self._used = self.capacity


class DailyBudget:
    """A daily allowance (HubSpot 250k-1M calls, Salesforce's rolling 24 h org allocation, Pipedrive's
    token budget). Spending past it raises `RateLimited(scope="daily")` so the account parks until reset."""

    def __init__(self, crm: str, limit: int | None, *, reserve: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.crm = crm
        self.limit = limit
        self.reserve = reserve  # left untouched for humans and other integrations sharing the budget
        self.remaining: int | None = limit
        self.resets_at: float | None = None
        self._clock = clock
        self._lock = threading.Lock()

    def spend(self, cost: int = 1) -> None:
        with self._lock:
            if self.resets_at is not None and self._clock() >= self.resets_at:
                self.remaining, self.resets_at = self.limit, None
            if self.remaining is None:
                return
            if self.remaining - cost < self.reserve:
                retry = (self.resets_at - self._clock()) if self.resets_at else 3600.0
                raise RateLimited(
                    f"{self.crm} daily API budget spent (reserve {self.reserve} kept for others)",
                    crm=self.crm, retry_after=max(retry, 1.0), scope="daily", status=None,
                )
            self.remaining -= cost

    def observe(self, remaining: int | None, limit: int | None = None, resets_in: float | None = None) -> None:
        """Adopt what the CRM reported: it counts every integration sharing the budget, we count only ours."""
        with self._lock:
            if limit is not None:
                self.limit = limit
            if remaining is not None:
                self.remaining = remaining
            if resets_in is not None:
                self.resets_at = self._clock() + resets_in
