"""Test helpers for the runtime, shipped in the package like `sync.testing`: fake account jobs that
record what overlapped, and a recorder to wait on the scheduler's threads without sleeping (every fake
notifies a condition when something happens, and the test waits for the state it expects)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta

from sync.clock import Clock
from sync.daemon.report import RunOutcome, RunSummary
from sync.daemon.scheduling import AccountJob

WAIT = 10.0  # seconds: a generous bound for a background thread to do something; never slept through


class Recorder:
    """What the fakes did, with a condition to wait on instead of sleeping."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.runs: Counter[str] = Counter()
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.max_total = 0
        self.skips: dict[str, Counter[str]] = defaultdict(Counter)
        self.summaries: list[RunSummary] = []

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout=timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def on_skip(self, key: str, reason: str) -> None:
        with self.cond:
            self.skips[key][reason] += 1
            self.cond.notify_all()

    def observe(self, summary: RunSummary) -> None:
        with self.cond:
            self.summaries.append(summary)
            self.cond.notify_all()


def summary_for(crm: str, account: str, clock: Clock, outcome: RunOutcome = RunOutcome.OK,
                **counts: object) -> RunSummary:
    """A finished run's summary; `counts` sets any other RunSummary attribute."""
    now = clock.now()
    summary = RunSummary(crm=crm, account=account, run_id=uuid.uuid4().hex[:12], started_at=now, finished_at=now,
                         outcome=outcome)
    for name, value in counts.items():
        setattr(summary, name, value)
    return summary


class FakeAccount:
    """An account's sync: records concurrency, can block until released, raise, or follow a script of
    outcomes (one per run; the last repeats)."""

    def __init__(self, recorder: Recorder, clock: Clock, crm: str = "fake", account: str = "main", *,
                 script: list[Callable[[], RunSummary]] | None = None, raises: Exception | None = None,
                 hold_first: bool = False) -> None:
        self.recorder = recorder
        self.clock = clock
        self.crm = crm
        self.account = account
        self.key = f"{crm}/{account}"
        self.script = script or []
        self.raises = raises
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.saw_stop: list[bool] = []

    def job(self, interval: timedelta = timedelta(milliseconds=10), jitter: timedelta = timedelta(0)) -> AccountJob:
        return AccountJob(self.key, interval, jitter, self, crm=self.crm, account=self.account)

    def __call__(self, stop: threading.Event) -> RunSummary:
        r = self.recorder
        with r.cond:
            r.active[self.key] += 1
            r.max_active[self.key] = max(r.max_active[self.key], r.active[self.key])
            r.max_total = max(r.max_total, sum(r.active.values()))
            index = r.runs[self.key]
            r.cond.notify_all()
        try:
            if not self.release.wait(WAIT):
                raise RuntimeError("a held FakeAccount was never released")
            self.saw_stop.append(stop.is_set())
            if self.raises is not None:
                raise self.raises
            if self.script:
                return self.script[min(index, len(self.script) - 1)]()
            return summary_for(self.crm, self.account, self.clock, pulled=3, pushed=1)
        finally:
            with r.cond:
                r.active[self.key] -= 1
                r.runs[self.key] += 1
                r.cond.notify_all()
