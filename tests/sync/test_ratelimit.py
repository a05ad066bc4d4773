from __future__ import annotations

import pytest

from sync.errors import RateLimited
from sync.ratelimit import DailyBudget, SlidingWindowLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_window_paces_calls_over_capacity():
    t = FakeTime()
    limiter = SlidingWindowLimiter(10, 2.0, clock=t.clock, sleep=t.sleep)
    for _ in range(25):
        limiter.acquire()
    # 25 calls at 10 per 2 s: the 11th waits for the first window, the 21st for the second
    assert t.now == pytest.approx(4.0)


def test_costs_count_as_tokens():
    t = FakeTime()
    limiter = SlidingWindowLimiter(20, 2.0, clock=t.clock, sleep=t.sleep)
    limiter.acquire(10)
    limiter.acquire(10)
    limiter.acquire(5)
    assert t.now == pytest.approx(2.0)


def test_hold_off_fills_the_window_until_the_reset():
    t = FakeTime()
    limiter = SlidingWindowLimiter(100, 10.0, clock=t.clock, sleep=t.sleep)
    limiter.hold_off(3.0)
    limiter.acquire()
    assert t.now == pytest.approx(3.0)


def test_daily_budget_refuses_instead_of_sleeping_and_keeps_the_reserve():
    t = FakeTime()
    budget = DailyBudget("pipedrive", 30, reserve=10, clock=t.clock)
    budget.spend(15)
    with pytest.raises(RateLimited) as info:
        budget.spend(10)
    assert info.value.scope == "daily"
    budget.observe(remaining=1000, resets_in=60)
    budget.spend(10)
    assert budget.remaining == 990
