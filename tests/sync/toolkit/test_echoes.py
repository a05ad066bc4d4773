"""`OwnWrites`: an echo is a record read back exactly as crmsync left it, asked about once."""

from __future__ import annotations

import pytest

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
    assert own_writes.is_echo("1", {"name": "Ada", "stage": "opportunity", "modified_at": "10:05"})
    assert not own_writes.is_echo("1", {"name": "Ada", "stage": "opportunity", "modified_at": "10:05"})


def test_any_other_difference_is_a_change(own_writes):
    own_writes.remember([("1", {"name": "Ada", "stage": "lead"}), ("2", {"name": "Bo", "stage": "lead"})])
    own_writes.wrote([("1", {"stage": "opportunity"}), ("2", {})])
    assert not own_writes.is_echo("1", {"name": "Ada", "stage": "customer"})  # someone moved it on
    assert not own_writes.is_echo("2", {"name": "Bob", "stage": "lead"})  # someone edited the name


def test_empty_values_read_alike_whichever_way_the_crm_answers(own_writes):
    own_writes.remember([("1", {"name": "Ada", "status": None})])
    own_writes.wrote([("1", {})])
    assert own_writes.is_echo("1", {"name": "Ada", "status": ""})


def test_only_the_last_pages_records_are_remembered(own_writes):
    own_writes.remember([("1", {"name": "Ada"})])
    own_writes.remember([("2", {"name": "Bo"})])
    own_writes.wrote([("1", {}), ("2", {}), ("3", {})])
    assert not own_writes.is_echo("1", {"name": "Ada"})  # written after its page was gone: read as before
    assert own_writes.is_echo("2", {"name": "Bo"})
    assert not own_writes.is_echo("3", {})

