"""When each account syncs: one apscheduler job per CRM account, on its interval with jitter.

The guarantees, and what gives each:
- never two runs of one account at once: apscheduler's `max_instances=1` skips a firing while the
  previous run is still going, and a per-account lock in the job wrapper makes that hold even for a
  run started another way (a resume, a test calling the wrapper);
- a slow run does not cause a burst of catch-up runs: `coalesce=True` folds missed firings into one,
  and a firing later than the misfire grace (by default one interval) is dropped, not run late;
- a daily API budget spent parks the account: a PARKED summary with `retry_at` pauses its job, and a
  small housekeeping job resumes it (running it at once) when the injected clock reaches `retry_at`;
- one account failing never stops the others: every exception of a run is caught, logged and turned
  into a FAILED summary; the account keeps its schedule;
- bounded concurrency: accounts share a fixed thread pool (`workers`); housekeeping (rules polling,
  health probes, resuming parked accounts) runs on a pool of its own so a busy sync never delays it,
  and a heartbeat on a third single thread lets liveness tell a wedged scheduler from a busy one.

Every run is given the daemon's stop event; the sync cycle checks it between pages and batches, so
a shutdown finishes or checkpoints the batch in flight.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from sync.clock import Clock, SystemClock
from sync.daemon.report import RunOutcome, RunSummary
from sync.errors import CrmsyncError

log = structlog.get_logger("crmsync.daemon.scheduling")

SweepResult = RunSummary | Sequence[RunSummary] | None
EXECUTORS = ("accounts", "ops", "heartbeat")

# apscheduler reports overlaps and misfires as stdlib WARNINGs, unstructured and once per firing; we
# turn the same events into structured `run_skipped` lines (and a metric), so its own loggers, named
# after our executors, only speak up for real errors.
_APS_LOGGER = logging.getLogger("crmsync.apscheduler")
for _name in (_APS_LOGGER.name, *(f"apscheduler.executors.{alias}" for alias in EXECUTORS)):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class AccountJob:
    """One CRM account's sync. `run(stop)` does one cycle and returns its summary; `crm` and `account`
    label the logs and metrics of a run that crashed before it could say who it was."""

    key: str
    interval: timedelta
    jitter: timedelta
    run: Callable[[threading.Event], RunSummary | None]  # None: not run, another replica owns the account
    crm: str = ""
    account: str = ""


@dataclass(frozen=True, slots=True)
class SweepJob:
    """Time-driven work (the SLA sweep): runs on the account pool, since it re-evaluates contacts and
    writes to CRMs like a sync does. It may return the summaries of the accounts it touched."""

    interval: timedelta
    run: Callable[[threading.Event], SweepResult]
    key: str = "sla_sweep"
    run_at_start: bool = True  # False for work the first cycles already do (the periodic full rescore)


@dataclass(frozen=True, slots=True)
class Periodic:
    """Housekeeping on the ops pool (rules polling, health probes): fast, and never a reason to wait."""

    key: str
    interval: timedelta
    run: Callable[[], object]
    run_at_start: bool = True


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def _utcnow() -> datetime:
    """apscheduler's own time base: real time, whatever clock the engine runs on."""
    return datetime.now(UTC)


class Scheduler:
    """apscheduler's BackgroundScheduler with crmsync's guarantees (see the module docstring)."""

    def __init__(self, *, stop: threading.Event, clock: Clock | None = None, workers: int = 4,
                 misfire_grace: timedelta | None = None, park_check: timedelta = timedelta(seconds=30),
                 heartbeat: timedelta = timedelta(seconds=5),
                 observers: Sequence[Callable[[RunSummary], None]] = (),
                 on_skip: Callable[[str, str], None] | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.stop_event = stop
        self.clock = clock or SystemClock()
        self.heartbeat = heartbeat
        self._misfire_grace = misfire_grace
        self._observers = list(observers)
        self._on_skip = on_skip
        self._scheduler = BackgroundScheduler(
            executors={"accounts": ThreadPoolExecutor(workers), "ops": ThreadPoolExecutor(2),
                       "heartbeat": ThreadPoolExecutor(1)},
            timezone=UTC, logger=_APS_LOGGER)
        self._scheduler.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._locks: dict[str, threading.Lock] = {}
        self._labels: dict[str, tuple[str, str]] = {}
        self._parked: dict[str, datetime] = {}
        self._last: dict[str, RunSummary] = {}
        self._state_lock = threading.Lock()
        self._idle = threading.Condition()
        self._inflight: set[str] = set()
        self._beat = time.monotonic()
        self.add_periodic(Periodic("park_check", park_check, self.resume_due, run_at_start=False))
        self._scheduler.add_job(self._pulse, IntervalTrigger(seconds=_seconds(heartbeat)), id="heartbeat",
                                executor="heartbeat", max_instances=1, coalesce=True)

    # -- building ---------------------------------------------------------------------------------
    def add_account(self, job: AccountJob) -> None:
        self._register(job.key, job.crm or job.key, job.account or job.key)
        self._add(job.key, job.interval, job.jitter, lambda: self._run_account(job))

    def add_sweep(self, job: SweepJob) -> None:
        self._register(job.key, "all", job.key)
        self._add(job.key, job.interval, timedelta(0), lambda: self._run_sweep(job), at_start=job.run_at_start)

    def add_periodic(self, task: Periodic) -> None:
        first = _utcnow() if task.run_at_start else None
        self._scheduler.add_job(self._guard_periodic(task), IntervalTrigger(seconds=_seconds(task.interval)),
                                id=task.key, name=task.key, executor="ops", max_instances=1, coalesce=True,
                                misfire_grace_time=None, **({"next_run_time": first} if first else {}))

    def _register(self, key: str, crm: str, account: str) -> None:
        if key in self._locks:
            raise ValueError(f"two jobs share the key {key!r}")
        self._locks[key] = threading.Lock()
        self._labels[key] = (crm, account)

    def _add(self, key: str, interval: timedelta, jitter: timedelta, body: Callable[[], None], *,
             at_start: bool = True) -> None:
        grace = self._misfire_grace if self._misfire_grace is not None else interval
        jitter_s = _seconds(jitter)
        # start at once, spread by the jitter, rather than one whole interval after the daemon starts
        first = _utcnow() + timedelta(seconds=random.uniform(0, jitter_s) if jitter_s else 0)
        if not at_start:
            first += interval
        self._scheduler.add_job(body, IntervalTrigger(seconds=_seconds(interval) or 1, jitter=jitter_s or None),
                                id=key, name=key, executor="accounts", max_instances=1, coalesce=True,
                                misfire_grace_time=max(1, round(_seconds(grace))), next_run_time=first)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._beat = time.monotonic()
        self._scheduler.start()
        log.info("scheduler_started", jobs=sorted(self._labels))

    def stop_taking_work(self) -> None:
        """No new run starts after this; runs in flight go on (they see the stop event)."""
        self.stop_event.set()
        try:
            self._scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is in flight; False if some still are after `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._inflight, timeout=timeout)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def alive(self, max_silence: timedelta | None = None) -> bool:
        """The scheduler loop still dispatches jobs: its heartbeat is recent."""
        silence = _seconds(max_silence) if max_silence is not None else 3 * _seconds(self.heartbeat) + 5
        return self.running and time.monotonic() - self._beat <= silence

    def _pulse(self) -> None:
        self._beat = time.monotonic()

    # -- state ------------------------------------------------------------------------------------
    def in_flight(self) -> set[str]:
        with self._idle:
            return set(self._inflight)

    def parked(self) -> dict[str, datetime]:
        with self._state_lock:
            return dict(self._parked)

    def last_summary(self, key: str) -> RunSummary | None:
        with self._state_lock:
            return self._last.get(key)

    def next_run_time(self, key: str) -> datetime | None:
        """When apscheduler will next fire the job; None while it is paused (parked)."""
        job = self._scheduler.get_job(key)
        return job.next_run_time if job is not None else None

    def run_now(self, key: str) -> None:
        """Fire a job at once instead of at its next time (its schedule then goes on as before)."""
        self._scheduler.modify_job(key, next_run_time=_utcnow())

    def resume_due(self) -> list[str]:
        """Resume every parked account whose `retry_at` has come (by the injected clock): run it now."""
        now = self.clock.now()
        with self._state_lock:
            due = [key for key, until in self._parked.items() if now >= until]
            for key in due:
                del self._parked[key]
        for key in due:
            crm, account = self._labels[key]
            log.info("account_resumed", crm=crm, account=account, job=key)
            try:
                self._scheduler.modify_job(key, next_run_time=_utcnow())
            except (JobLookupError, SchedulerNotRunningError):
                pass
        return due

    # -- running ----------------------------------------------------------------------------------
    @contextmanager
    def _slot(self, key: str) -> Iterator[bool]:
        """Admission for one run of `key`: False (and the reason logged) when it must not start."""
        reason = None
        if self.stop_event.is_set():
            reason = "stopping"
        else:
            with self._state_lock:
                until = self._parked.get(key)
            if until is not None and self.clock.now() < until:
                reason = "parked"
        lock = self._locks[key]
        if reason is None and not lock.acquire(blocking=False):
            reason = "still_running"
        if reason is not None:
            self._skipped(key, reason)
            yield False
            return
        with self._idle:
            self._inflight.add(key)
        try:
            yield True
        finally:
            lock.release()
            with self._idle:
                self._inflight.discard(key)
                self._idle.notify_all()

    def _run_account(self, job: AccountJob) -> None:
        with self._slot(job.key) as admitted:
            if not admitted:
                return
            crm, account = self._labels[job.key]
            started = self.clock.now()
            with structlog.contextvars.bound_contextvars(crm=crm, account=account):
                try:
                    summary = job.run(self.stop_event)
                except Exception as exc:  # noqa: BLE001 - one account's failure never reaches the scheduler
                    summary = self._crashed(job.key, started, exc)
                if summary is None:
                    self._skipped(job.key, "not_owner")
                    return
                if summary.outcome is RunOutcome.PARKED and summary.retry_at is not None:
                    self._park(job.key, summary)
                self._observe(job.key, summary)

    def _run_sweep(self, job: SweepJob) -> None:
        with self._slot(job.key) as admitted:
            if not admitted:
                return
            started = self.clock.now()
            try:
                result = job.run(self.stop_event)
            except Exception as exc:  # noqa: BLE001 - reported as a FAILED summary, the sweep keeps its schedule
                result = self._crashed(job.key, started, exc)
            summaries = [result] if isinstance(result, RunSummary) else list(result or ())
            for summary in summaries:
                self._observe(job.key, summary)

    def _guard_periodic(self, task: Periodic) -> Callable[[], None]:
        def body() -> None:
            if self.stop_event.is_set():
                return
            try:
                task.run()
            except Exception as exc:  # housekeeping must keep its schedule whatever happens
                log.exception("periodic_task_failed", job=task.key, error_type=type(exc).__name__)
        return body

    def _crashed(self, key: str, started: datetime, exc: Exception) -> RunSummary:
        crm, account = self._labels[key]
        message = exc.user_message if isinstance(exc, CrmsyncError) else f"unexpected error ({type(exc).__name__})"
        summary = RunSummary(crm=crm, account=account, run_id=uuid.uuid4().hex, started_at=started,
                             finished_at=self.clock.now(), outcome=RunOutcome.FAILED, errors=[message])
        log.error("run_crashed", job=key, crm=crm, account=account, run_id=summary.run_id,
                  error=message, error_type=type(exc).__name__, exc_info=exc)
        return summary

    def _observe(self, key: str, summary: RunSummary) -> None:
        with self._state_lock:
            self._last[key] = summary
        for observer in self._observers:
            try:
                observer(summary)
            except Exception as exc:  # a broken observer must not deprive the others of the summary
                log.exception("run_observer_failed", job=key, error_type=type(exc).__name__)

    def _park(self, key: str, summary: RunSummary) -> None:
        assert summary.retry_at is not None
        try:  # pause first: once `parked()` shows the account, apscheduler can no longer fire it
            self._scheduler.pause_job(key)
        except (JobLookupError, SchedulerNotRunningError):
            pass
        with self._state_lock:
            self._parked[key] = summary.retry_at
        log.warning("account_parked", job=key, crm=summary.crm, account=summary.account, run_id=summary.run_id,
                    retry_at=summary.retry_at.isoformat(), **summary.counts())

    def _skipped(self, key: str, reason: str) -> None:
        crm, account = self._labels.get(key, (key, key))
        # another replica owning the account is the normal state of most accounts: not worth a line each time
        (log.debug if reason == "not_owner" else log.info)("run_skipped", job=key, crm=crm, account=account,
                                                           reason=reason)
        if self._on_skip is not None:
            self._on_skip(key, reason)

    def _on_event(self, event: JobEvent) -> None:
        if event.job_id in self._labels:
            self._skipped(event.job_id,
                          "still_running" if event.code == EVENT_JOB_MAX_INSTANCES else "missed")
