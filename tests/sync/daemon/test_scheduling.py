from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from sync.clock import FrozenClock
from sync.daemon.report import RunOutcome
from sync.daemon.scheduling import AccountJob, Scheduler, SweepJob
from sync.daemon.testing import FakeAccount, Recorder, summary_for
from sync.errors import AuthFailed

TICK = timedelta(milliseconds=10)  # a tight interval: the scheduler fires far more often than the jobs finish


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_scheduler(recorder: Recorder, clock: FrozenClock) -> Iterator[object]:
    made: list[Scheduler] = []

    def make(**kwargs: object) -> Scheduler:
        options: dict[str, object] = {"stop": threading.Event(), "clock": clock, "observers": [recorder.observe],
                                      "on_skip": recorder.on_skip, "park_check": timedelta(hours=1)}
        options.update(kwargs)
        scheduler = Scheduler(**options)  # type: ignore[arg-type]
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.stop_taking_work()
        scheduler.wait_idle(5)


def test_a_slow_account_never_runs_twice_at_once(make_scheduler, recorder, clock):
    slow = FakeAccount(recorder, clock, hold_first=True)
    scheduler = make_scheduler()
    scheduler.add_account(slow.job(interval=TICK))
    scheduler.start()

    # the first run is held while the interval elapses many times over
    recorder.wait_for(lambda: recorder.skips[slow.key]["still_running"] >= 3, "firings skipped while running")
    assert recorder.active[slow.key] == 1
    slow.release.set()
    recorder.wait_for(lambda: recorder.runs[slow.key] >= 3, "later runs after the slow one")

    assert recorder.max_active[slow.key] == 1


def test_a_parked_account_waits_for_retry_at_then_resumes(make_scheduler, recorder, clock):
    retry_at = clock.now() + timedelta(hours=1)
    parked = FakeAccount(recorder, clock, script=[
        lambda: summary_for("fake", "main", clock, RunOutcome.PARKED, retry_at=retry_at),
        lambda: summary_for("fake", "main", clock, RunOutcome.OK),
    ])
    scheduler = make_scheduler()
    scheduler.add_account(parked.job(interval=TICK))
    scheduler.start()

    recorder.wait_for(lambda: scheduler.parked() != {}, "the account to park")
    assert scheduler.parked() == {parked.key: retry_at}
    assert scheduler.next_run_time(parked.key) is None  # paused in apscheduler: it cannot fire

    clock.advance(timedelta(minutes=59))
    assert scheduler.resume_due() == []
    assert scheduler.next_run_time(parked.key) is None
    assert recorder.runs[parked.key] == 1

    clock.advance(timedelta(minutes=1))
    assert scheduler.resume_due() == [parked.key]
    recorder.wait_for(lambda: recorder.runs[parked.key] >= 2, "the run after retry_at")
    assert recorder.summaries[1].outcome is RunOutcome.OK
    assert scheduler.parked() == {}


def test_the_housekeeping_job_resumes_a_parked_account_by_itself(make_scheduler, recorder, clock):
    parked = FakeAccount(recorder, clock, script=[
        lambda: summary_for("fake", "main", clock, RunOutcome.PARKED, retry_at=clock.now() + timedelta(hours=6)),
        lambda: summary_for("fake", "main", clock, RunOutcome.OK),
    ])
    scheduler = make_scheduler(park_check=TICK)
    scheduler.add_account(parked.job(interval=TICK))
    scheduler.start()
    recorder.wait_for(lambda: scheduler.parked() != {}, "the account to park")

    clock.advance(timedelta(hours=6))
    recorder.wait_for(lambda: recorder.runs[parked.key] >= 2, "the resumed run")
    assert [s.outcome for s in recorder.summaries[:2]] == [RunOutcome.PARKED, RunOutcome.OK]


def test_a_failing_account_never_stops_the_others(make_scheduler, recorder, clock):
    broken = FakeAccount(recorder, clock, "hubspot", "eu", raises=RuntimeError("boom"))
    revoked = FakeAccount(recorder, clock, "salesforce", "us", raises=AuthFailed("token revoked", crm="salesforce"))
    healthy = FakeAccount(recorder, clock, "pipedrive", "main")
    scheduler = make_scheduler()
    for account in (broken, revoked, healthy):
        scheduler.add_account(account.job(interval=TICK))
    with capture_logs() as logs:
        scheduler.start()
        recorder.wait_for(lambda: min(recorder.runs[a.key] for a in (broken, revoked, healthy)) >= 3,
                          "three runs of every account")

    assert scheduler.running
    assert scheduler.last_summary(healthy.key).outcome is RunOutcome.OK
    failed = scheduler.last_summary(broken.key)
    assert failed.outcome is RunOutcome.FAILED and (failed.crm, failed.account) == ("hubspot", "eu")
    assert failed.errors == ["unexpected error (RuntimeError)"]
    assert scheduler.last_summary(revoked.key).errors == ["token revoked"]  # the user-facing message
    crashed = [line for line in logs if line["event"] == "run_crashed"]
    assert crashed and all({"crm", "account", "run_id"} <= line.keys() for line in crashed)


def test_accounts_share_a_bounded_worker_pool(make_scheduler, recorder, clock):
    accounts = [FakeAccount(recorder, clock, "fake", f"a{i}", hold_first=True) for i in range(4)]
    scheduler = make_scheduler(workers=2)
    for account in accounts:
        scheduler.add_account(account.job(interval=TICK))
    scheduler.start()

    # every account has been submitted (its next firings bounce off max_instances) but only two run
    recorder.wait_for(lambda: all(recorder.skips[a.key]["still_running"] for a in accounts), "all submitted")
    assert sum(recorder.active.values()) == 2
    for account in accounts:
        account.release.set()
    recorder.wait_for(lambda: all(recorder.runs[a.key] >= 2 for a in accounts), "every account to run")
    assert recorder.max_total == 2


def test_stop_reaches_the_run_in_flight_and_nothing_new_starts(make_scheduler, recorder, clock):
    def cycle(stop: threading.Event):
        with recorder.cond:
            recorder.runs["started"] += 1
            recorder.cond.notify_all()
        assert stop.wait(10), "the stop event never came"
        return summary_for("fake", "main", clock, RunOutcome.INTERRUPTED)

    scheduler = make_scheduler()
    scheduler.add_account(AccountJob("fake/main", TICK, timedelta(0), cycle, crm="fake", account="main"))
    scheduler.start()
    recorder.wait_for(lambda: recorder.runs["started"] == 1, "the run to start")

    scheduler.stop_taking_work()
    assert scheduler.wait_idle(5)
    assert scheduler.in_flight() == set()
    assert [s.outcome for s in recorder.summaries] == [RunOutcome.INTERRUPTED]
    assert recorder.runs["started"] == 1


def test_the_sweep_reports_the_summaries_it_returns(make_scheduler, recorder, clock):
    done = threading.Event()

    def sweep(stop: threading.Event):
        done.set()
        return [summary_for("hubspot", "eu", clock, breaches_open=2), summary_for("pipedrive", "main", clock)]

    scheduler = make_scheduler()
    scheduler.add_sweep(SweepJob(timedelta(hours=1), sweep))
    scheduler.start()
    recorder.wait_for(lambda: len(recorder.summaries) >= 2, "the sweep's summaries")
    assert {(s.crm, s.breaches_open) for s in recorder.summaries} == {("hubspot", 2), ("pipedrive", 0)}


def test_two_jobs_cannot_share_a_key(make_scheduler, recorder, clock):
    scheduler = make_scheduler()
    scheduler.add_account(FakeAccount(recorder, clock).job())
    with pytest.raises(ValueError, match="share the key"):
        scheduler.add_account(FakeAccount(recorder, clock).job())
