"""`round2` is a fast path for round(x, 2) in per-event scoring: it must give the very same float."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.rules.scoring import round2


def same(x: float) -> None:
    fast, slow = round2(x), round(x, 2)
    assert fast == slow and math.copysign(1.0, fast) == math.copysign(1.0, slow), (x, fast, slow)


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e7, max_value=1e7))
def test_round2_is_round_to_two_digits(x: float) -> None:
    same(x)


def test_round2_at_halves_integers_and_zeros() -> None:
    for k in range(-20_000, 20_000):
        for d in (0.005, 0.0049999999999, 0.0050000000001, 0.0, 1e-12, -1e-12, 0.00499, 0.00501):
            same(k / 100 + d)
            same(k * 0.01 - d)
    for x in (0.0, -0.0, -0.001, 0.001, -0.004999, 1e6, -1e6, 1e300, -1e300, 5e-324):
        same(x)


@given(st.sampled_from([4.0, 6.0, 1.0, 0.5, 5.0, -5.0, 2.5, 0.1]),
       st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=30))
def test_round2_on_decayed_points(points: float, ages: list[float]) -> None:
    same(points * sum(math.exp(-age) for age in ages))
