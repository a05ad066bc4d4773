"""The record problems and setup warnings of the state store, on SQLite and PostgreSQL: recording a page's
problems twice (a page re-read after a crash) keeps one row per record and field with its first sighting,
a clean read clears only that record's rows of its own kind, and warnings are replaced, new ones returned."""

from __future__ import annotations

from datetime import timedelta

from alembic import command

from sync.contract import SetupWarning
from sync.state import AccountRef, StateStore
from sync.state.migrate import alembic_config
from sync.state.record_problems import PULL, PUSH, NewProblem, ReadCleanly

REF = AccountRef("hubspot", "eu")
OTHER = AccountRef("hubspot", "us")


def test_problems_are_upserted_cleared_by_kind_and_counted_per_record(store: StateStore, clock):
    ledger = store.record_problems
    first = clock.now()
    page = [NewProblem("contact", "101", "numemployees", "expected a number, got text"),
            NewProblem("contact", "101", "industry", "not a known industry"),
            NewProblem("deal", "101", None, "unreadable record (ValueError)"),  # same id, another object
            NewProblem("call", "7", "hs_call_duration", "negative duration")]
    ledger.record(REF, PULL, page, run_id="r1", now=first)
    clock.advance(timedelta(hours=1))
    ledger.record(REF, PULL, page[:1], run_id="r2", now=clock.now())  # the same page read again
    ledger.record(OTHER, PUSH, [NewProblem("contact", "9", "email", "INVALID_EMAIL", code="INVALID_EMAIL")],
                  run_id="r3", now=clock.now())
    rows = ledger.problems(REF)
    assert len(rows) == 4 and rows[0].record_id == "101" and rows[0].field == "numemployees"  # latest first
    assert (rows[0].first_seen, rows[0].last_seen) == (first, clock.now())
    assert ledger.counts() == {REF: {PULL: 3}, OTHER: {PUSH: 1}}  # records, not fields
    assert ledger.size() == 5

    ledger.clear_read(REF, ReadCleanly(contacts=frozenset({"101"})))
    assert sorted((p.object_type, p.record_id) for p in ledger.problems(REF)) == [("call", "7"), ("deal", "101")]
    ledger.clear_read(REF, ReadCleanly(deals=frozenset({"101"}), activities=frozenset({"7"})))
    assert ledger.problems(REF) == []
    ledger.clear_pushed(OTHER, ["9"])
    assert ledger.counts() == {}


def test_setup_warnings_are_replaced_and_only_new_ones_returned(store: StateStore, clock):
    ledger = store.record_problems
    label = SetupWarning("person label 'Hot lead' does not exist", "labels not moved", "create the label")
    field = SetupWarning("x" * 700, "writes refused", "create it")  # longer than the column: cut, still one
    assert ledger.replace_warnings(REF, [label, field], now=clock.now()) == [label, SetupWarning("x" * 500,
                                                                                                 "writes refused",
                                                                                                 "create it")]
    assert ledger.replace_warnings(REF, [label, field], now=clock.now()) == []  # nothing new: nothing to log
    assert ledger.replace_warnings(REF, [label], now=clock.now()) == []
    assert [w for _, w, _ in ledger.warnings(REF)] == [label]
    store.forget_account(REF)
    assert ledger.warnings() == []


def test_the_migration_goes_down_and_up_again(store: StateStore):
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
        command.upgrade(config, "head")
    store.record_problems.record(REF, PULL, [NewProblem("contact", "1", None, "skipped")], run_id="r",
                                 now=store.clock.now())
    assert store.record_problems.size() == 1
