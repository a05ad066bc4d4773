"""`OwnWrites`: an echo is a record read back exactly as crmsync left it, asked about once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.spill import Scratch
from sync.toolkit.echoes import OwnWrites


@pytest.fixture
def own_writes():
    scratch = Scratch(prefix="crmsync-test-echoes-")
    yield OwnWrites(scratch, ignored=("modified_at",))
    scratch.close()


def test_a_record_read_back_as_written_is_an_echo_once(own_writes):
    own_writes.remember([("1", {"name": "Ada", "stage": "lead", "modified_at": "10:00"})])
    own_writes.wrote([("1", {"stage": "opportunity"})])
    assert "1" in own_writes.echoes([("1", {"name": "Ada", "stage": "opportunity", "modified_at": "10:05"})])
    again = [("1", {"name": "Ada", "stage": "opportunity", "modified_at": "10:05"})]
    assert "1" not in own_writes.echoes(again)


def test_any_other_difference_is_a_change(own_writes):
    own_writes.remember([("1", {"name": "Ada", "stage": "lead"}), ("2", {"name": "Bo", "stage": "lead"})])
    own_writes.wrote([("1", {"stage": "opportunity"}), ("2", {})])
    assert "1" not in own_writes.echoes([("1", {"name": "Ada", "stage": "customer"})])  # someone moved it on
    assert "2" not in own_writes.echoes([("2", {"name": "Bob", "stage": "lead"})])  # someone edited the name


def test_empty_values_read_alike_whichever_way_the_crm_answers(own_writes):
    own_writes.remember([("1", {"name": "Ada", "status": None})])
    own_writes.wrote([("1", {})])
    assert "1" in own_writes.echoes([("1", {"name": "Ada", "status": ""})])


def test_only_the_last_pages_records_are_remembered(own_writes):
    own_writes.remember([("1", {"name": "Ada"})])
    own_writes.remember([("2", {"name": "Bo"})])
    own_writes.wrote([("1", {}), ("2", {}), ("3", {})])
    # written after its page was gone: read as before
    assert "1" not in own_writes.echoes([("1", {"name": "Ada"})])
    assert "2" in own_writes.echoes([("2", {"name": "Bo"})])
    assert "3" not in own_writes.echoes([("3", {})])



values_ = st.dictionaries(st.sampled_from(["name", "title", "stage", "status", "size"]),
                          st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5)), max_size=5)


@settings(max_examples=200, deadline=None)
@given(read=values_, written=values_, name=st.sampled_from(["name", "title", "stage"]),
       other=st.text(min_size=1, max_size=8))
def test_an_echo_is_exactly_the_read_values_with_the_writes_laid_over(read, written, name, other):
    scratch = Scratch(prefix="crmsync-test-echoes-")
    try:
        own_writes = OwnWrites(scratch, ignored=("modified_at",))
        now = {**read, **written}
        own_writes.remember([("1", read), ("2", read)])
        own_writes.wrote([("1", written), ("2", written)])
        assert "1" in own_writes.echoes([("1", {**now, "modified_at": "later"})])
        changed = {**now, name: other} if now.get(name) != other else {**now, name: other + "!"}
        # any value that differs is someone else's change
        assert "2" not in own_writes.echoes([("2", changed)])
    finally:
        scratch.close()


def test_a_page_is_compared_at_once(own_writes):
    own_writes.remember([("1", {"name": "Ada"}), ("2", {"name": "Bo"}), ("3", {"name": "Cy"})])
    own_writes.wrote([("1", {}), ("2", {}), ("3", {})])
    page = [("1", {"name": "Ada"}), ("2", {"name": "Bob"}), ("3", {"name": "Cy"}), ("4", {"name": "Di"})]
    assert own_writes.echoes(page) == {"1", "3"}
    assert own_writes.echoes(page) == set()  # each write is asked about once
