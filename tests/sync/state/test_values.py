from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sync.state.values import decode_value, encode_value


@pytest.mark.parametrize("value", [None, True, False, 0, 1, 1.0, 72.5, "", "lead", "é;ü",
                                   datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)])
def test_every_field_value_round_trips_with_its_type(value):
    back = decode_value(encode_value(value))
    assert back == value and type(back) is type(value)


def test_types_that_compare_equal_in_python_encode_differently():
    assert len({encode_value(True), encode_value(1), encode_value(1.0), encode_value("1")}) == 4


def test_the_same_instant_in_two_time_zones_encodes_the_same():
    utc = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert encode_value(utc) == encode_value(paris)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        encode_value(datetime(2026, 11, 2, 9, 0))
