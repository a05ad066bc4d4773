"""Values people typed by hand fail their field, never the record; what failed is reported without the value."""

from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import TransientError
from sync.toolkit.reading import MAX_TEXT, RecordReader, read_record


def reader() -> RecordReader:
    return RecordReader("42", "person")


@pytest.mark.parametrize(("raw", "expected"), [
    (75, 75.0), ("75", 75.0), ("1 200", 1200.0), ("1,200", 1200.0), ("12,5", 12.5), ("  3.5 ", 3.5),
    ("-4", -4.0), ("", None), (None, None),
])
def test_numbers_people_write_are_read(raw, expected):
    assert reader().number(raw, "size") == expected


@pytest.mark.parametrize("raw", ["50-100", "lots", "1e400", "12abc", "--1"])
def test_text_in_a_number_field_is_unknown_and_reported_without_its_value(raw):
    read = reader()
    assert read.number(raw, "company_size") is None
    [problem] = read.problems
    assert (problem.record_id, problem.field, problem.object_type) == ("42", "company_size", "person")
    assert raw not in problem.reason


@pytest.mark.parametrize(("raw", "expected"), [
    ("75", (75, 75)), (75, (75, 75)), ("50-100", (50, 100)), ("50 - 100", (50, 100)), ("1000+", (1000, None)),
    ("5–25", (5, 25)), ("1 000+", (1000, None)), ("10 à 49", (10, 49)),
])
def test_head_counts_are_ranges(raw, expected):
    assert reader().size_range(raw, "numemployees") == expected


@pytest.mark.parametrize("raw", ["lots", "100-50", "many people", {"value": 3}])
def test_a_head_count_that_is_not_one_is_unknown(raw):
    read = reader()
    assert read.size_range(raw, "numemployees") is None
    assert len(read.problems) == 1


def test_text_loses_control_characters_and_is_cut_at_its_limit():
    read = reader()
    assert read.text("Ada\x00 Lovelace\x07", "name") == "Ada Lovelace"
    assert read.problems == []
    long = read.text("x" * 100_000, "name")
    assert long is not None and len(long) == MAX_TEXT
    assert [p.field for p in read.problems] == ["name"]


def test_times_in_the_forms_crms_write_them():
    read = reader()
    utc = timezone.utc
    assert read.timestamp("2024-01-17T19:55:04.281Z", "t") == datetime(2024, 1, 17, 19, 55, 4, 281000, utc)
    assert read.timestamp("2024-01-17T19:55:04.000+0000", "t") == datetime(2024, 1, 17, 19, 55, 4, tzinfo=utc)
    assert read.timestamp("1718000000000", "t") == datetime(2024, 6, 10, 6, 13, 20, tzinfo=utc)
    assert read.timestamp("2024-01-17", "t") == datetime(2024, 1, 17, tzinfo=utc)
    assert read.problems == []
    assert read.timestamp("next Tuesday", "t") is None
    assert read.timestamp("17/01/2024", "t") is None
    assert read.day("2024-02-30", "d") is None
    assert read.day("2024-02-29", "d") == date(2024, 2, 29)
    assert len(read.problems) == 3


def test_a_record_whose_mapping_fails_is_skipped_and_reported():
    problems = []
    assert read_record("7", "deal", problems, lambda: int("lots")) is None
    assert problems[0].record_id == "7" and problems[0].field is None
    assert "ValueError" in problems[0].reason and "lots" not in problems[0].reason


def test_crmsync_errors_are_not_the_record_s_fault():
    def failing():
        raise TransientError("boom", crm="pipedrive")

    with pytest.raises(TransientError):
        read_record("7", "deal", [], failing)


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                 st.lists(st.integers()), st.dictionaries(st.text(), st.integers())))
def test_no_value_raises(raw):
    read = reader()
    read.number(raw, "n")
    read.size_range(raw, "s")
    read.timestamp(raw, "t")
    read.day(raw, "d")
    read.boolean(raw, "b")
    read.text(raw, "x")
    assert all(problem.record_id == "42" for problem in read.problems)
