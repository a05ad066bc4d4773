"""A full pull's memory does not grow with the account: Pipedrive lists deals and activities account-wide, and
the connector keeps them on disk until their persons' page is built (`connectors/pipedrive/history.py`).

Two views of the same property: the window hands out at most one page of persons' history at a time and
leaves no file behind; and (slow, run by `make bench`) what the connector's own code holds when it hands out
a page is the same for an account four times larger (tracemalloc, counting only the allocations made by
`connectors/pipedrive/`, so the in-process sandbox does not count)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest

import connectors.pipedrive.pull as pull_module
from connectors.pipedrive import PipedriveConnector
from connectors.pipedrive.history import WindowHistory
from connectors.sandbox.pipedrive import PipedriveSandbox
from sync.clock import FrozenClock
from sync.model import Activity, ActivityKind, Deal, DealStatus, PipelineStage
from sync.synthetic import synthetic_contacts

PAGE = 50
T0 = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


class SpiedHistory(WindowHistory):
    made: list[SpiedHistory] = []

    def __init__(self) -> None:
        super().__init__()
        self.persons_stored: set[int] = set()
        SpiedHistory.made.append(self)

    def add_deal(self, person: int, deal: Deal) -> None:
        self.persons_stored.add(person)
        super().add_deal(person, deal)


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SpiedHistory]]:
    SpiedHistory.made = []
    monkeypatch.setattr(pull_module, "WindowHistory", SpiedHistory)
    yield SpiedHistory.made


def people(sandbox: PipedriveSandbox, count: int, clock: FrozenClock) -> PipedriveConnector:
    sandbox.seed(synthetic_contacts(count, now=clock.now()))
    def sleep(seconds: float) -> None:  # pacing moves the frozen clock instead of waiting
        clock.advance(timedelta(seconds=seconds))

    return PipedriveConnector(sandbox.settings(page_size=PAGE), account="acme", clock=clock, sleep=sleep)


def test_the_window_hands_out_one_page_of_history_at_a_time_and_leaves_no_file(clock, spied):
    with PipedriveSandbox(clock=clock) as sandbox:
        connector = people(sandbox, 400, clock)
        try:
            pages = []
            for page in connector.pull(None):
                pages.append(page)
                window = spied[-1]
                assert window.largest_read <= PAGE  # never more than one page of persons in memory
            contacts = [c for p in pages for c in p.contacts]
        finally:
            connector.close()
    assert len(contacts) == 400 and sum(len(c.deals) for c in contacts) > 0
    assert len(spied) == 1 and len(spied[0].persons_stored) > 3 * PAGE  # many pages' worth waited on disk
    assert spied[0]._scratch.path is None  # the pull's end removed the window's file


def test_history_read_back_from_disk_is_what_was_listed(tmp_path):
    history = WindowHistory(directory=tmp_path)
    deal = Deal(id="7", status=DealStatus.WON, stage=PipelineStage.CLOSING, amount=1200.0, currency="EUR",
                close_date=date(2026, 10, 30), recurring=True, contract_months=12, created_at=T0,
                updated_at=T0)
    call = Activity(kind=ActivityKind.CALL, at=T0, by="3", direction="outbound", id="11", subject="Intro")
    meeting = Activity(kind=ActivityKind.MEETING, at=T0, done=False, automated=True, id="12")
    history.add_deal(5, deal)
    history.add_activity(5, call)
    history.add_activity(5, meeting)
    history.add_activity(6, call)
    history.trigger([5, 6, 9])
    history.emit([6])
    deals, activities = history.related([5, 6, 8])
    assert deals == {5: [deal]} and activities == {5: [call, meeting], 6: [call]}
    assert history.pending(0, 10) == [5, 9] and history.pending(5, 10) == [9] and history.pending(0, 1) == [5]
    assert history.is_triggered(9) and not history.is_triggered(8)
    history.close()
    assert list(tmp_path.iterdir()) == []


def _held_by_connector() -> int:
    """Bytes alive now that code under connectors/pipedrive/ allocated (the sandbox's own code excluded)."""
    only_ours = [tracemalloc.Filter(True, "*/connectors/pipedrive/*")]
    snapshot = tracemalloc.take_snapshot().filter_traces(only_ours)
    return sum(stat.size for stat in snapshot.statistics("filename"))


def _peak_held(count: int) -> int:
    clock = FrozenClock(T0)
    with PipedriveSandbox(clock=clock) as sandbox:
        connector = people(sandbox, count, clock)
        try:
            connector.field_catalog()
            tracemalloc.start()
            try:
                peak = 0
                for page in connector.pull(None):
                    peak = max(peak, _held_by_connector())
                    del page
            finally:
                tracemalloc.stop()
        finally:
            connector.close()
    return peak


@pytest.mark.slow  # ~25 s: the in-process sandbox runs under tracemalloc too
def test_what_the_connector_holds_per_page_does_not_grow_with_the_account():
    small, large = _peak_held(200), _peak_held(800)
    # measured: 0.25 MB at both sizes; with the history in dicts it was 0.47 MB against 1.5 MB
    assert large < small * 1.3 + 150_000, (small, large)
