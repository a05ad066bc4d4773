"""The incremental cursor: what the watermark skips, what it forgets, one wire form, legacy readers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import PermanentError
from sync.toolkit.cursor import Cursor, Watermark, format_stamp, from_epoch_ms, parse_stamp, to_epoch_ms

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def test_a_record_read_again_with_its_stamp_is_skipped_and_one_modified_since_is_not():
    mark = Watermark(T0)
    mark.remember("7", T0 + timedelta(seconds=3))
    assert mark.already_read("7", T0 + timedelta(seconds=3))
    assert not mark.already_read("7", T0 + timedelta(seconds=4)) and not mark.already_read("8", T0)
    assert not mark.already_read("7", None)


def test_moving_the_mark_forgets_what_can_no_longer_be_read():
    mark = Watermark(T0, {"old": T0, "new": T0 + timedelta(seconds=5)})
    mark.move_to(T0 + timedelta(seconds=5))
    assert mark.seen == {"new": T0 + timedelta(seconds=5)}
    mark.remember("stale", T0)  # below the mark: never read again, so never remembered
    assert "stale" not in mark.seen


def test_reading_in_stamp_order_moves_the_mark_but_never_past_the_cap():
    mark = Watermark()
    mark.read("a", T0)
    mark.read("b", T0)
    mark.read("c", T0 + timedelta(minutes=5), cap=T0 + timedelta(minutes=1))
    assert mark.at == T0 + timedelta(minutes=1)
    assert set(mark.seen) == {"c"}  # a and b are below the capped mark now; c stays remembered with its stamp


def test_the_wire_form_groups_ids_by_stamp_and_round_trips():
    cursor = Cursor({"contacts": Watermark(T0, {"1": T0, "2": T0, "3": T0 + timedelta(milliseconds=1)}),
                     "archived": Watermark(T0)}, {"list_after": "tok"})
    encoded = cursor.encode()
    assert '"2026-11-02T09:00:00.000Z":"1,2"' in encoded
    assert Cursor.decode(encoded, crm="crm") == cursor
    assert Cursor.decode(None, crm="crm") == Cursor()


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)))
def test_every_stamp_round_trips_exactly(moment):
    assert parse_stamp(format_stamp(moment)) == moment


@given(st.integers(min_value=0, max_value=10**13))
def test_epoch_milliseconds_round_trip_exactly(millis):
    assert to_epoch_ms(from_epoch_ms(millis)) == millis


def test_a_cursor_of_an_earlier_version_goes_through_the_legacy_reader_once():
    migrated = Cursor({"contacts": Watermark(T0)})
    assert Cursor.decode("v1:whatever", crm="crm", legacy=lambda raw: migrated) is migrated


@pytest.mark.parametrize("bad", ["{", '{"v": 99}', "[1]", '{"v": 2, "marks": {"x": {"at": "yesterday"}}}'])
def test_a_cursor_nobody_wrote_is_refused_with_what_to_do(bad):
    with pytest.raises(PermanentError, match="reset the account's cursor"):
        Cursor.decode(bad, crm="crm", legacy=lambda raw: None)
