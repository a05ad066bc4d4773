"""The daemon: scheduler, rules hot reload, health probes, operations HTTP and signals, put together.

`Daemon` composes callables, not the settings or the state store: each account is an `AccountJob`
whose `run(stop)` is one sync cycle (in production `sync.daemon.cycle.run_cycle` bound to its
connector, store and the watcher's current rules), so the runtime is tested on its own with fake jobs.

Lifecycle (`run`): load the rules (a bad file at start is a configuration error: nothing is scheduled),
start the scheduler and the HTTP server, wait for SIGTERM/SIGINT, then stop taking work, set the stop
event so the batch in flight finishes or checkpoints, wait at most `shutdown_timeout` for the runs in
flight, and return 0. Past the bound it exits 1 at once: the orchestrator's SIGKILL would come next
anyway, and the state store makes the next start converge. Set the orchestrator's grace period a few
seconds above `shutdown_timeout`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

import structlog

from sync.clock import Clock, SystemClock
from sync.daemon.http import OpsApp, OpsServer, ReportProvider
from sync.daemon.metrics import CONTENT_TYPE, Metrics
from sync.daemon.readiness import BackgroundCheck, CheckResult, HealthMonitor, ReadinessCheck
from sync.daemon.reload import RulesWatcher
from sync.daemon.report import RunOutcome, RunSummary
from sync.daemon.scheduling import AccountJob, Periodic, Scheduler, SweepJob
from sync.daemon.signals import GracefulShutdown, hard_exit

log = structlog.get_logger("crmsync.daemon")

_LEVELS = {RunOutcome.OK: "info", RunOutcome.PARTIAL: "warning", RunOutcome.PARKED: "warning",
           RunOutcome.INTERRUPTED: "info", RunOutcome.FAILED: "error"}


def log_run(summary: RunSummary) -> None:
    """The one line every finished run writes: who, which run, what it did."""
    duration = (summary.finished_at - summary.started_at).total_seconds() if summary.finished_at else None
    getattr(log, _LEVELS.get(summary.outcome, "info"))(
        "run_finished", crm=summary.crm, account=summary.account, run_id=summary.run_id,
        outcome=summary.outcome.value, **summary.counts(), fields_written=summary.fields_written,
        api_calls=dict(summary.api_calls), rate_limited=summary.rate_limited,
        breaches_open=summary.breaches_open, duration_s=duration, rules_version=summary.rules_version,
        retry_at=summary.retry_at.isoformat() if summary.retry_at else None, errors=summary.errors[:10],
        **summary.reminder_counts())


class Companion(Protocol):
    """Work beside the scheduler for the daemon's whole life (the lease keeper of replicas): started once the
    scheduler runs, stopped once the runs in flight have drained."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Daemon:
    """One process: every account's sync on its schedule, the SLA sweep, the rules watched, probes served."""

    def __init__(self, jobs: Sequence[AccountJob], *, watcher: RulesWatcher[Any] | None = None,
                 sweep: SweepJob | None = None, readiness: Sequence[ReadinessCheck] = (),
                 background: Sequence[BackgroundCheck] = (),
                 health: HealthMonitor | None = None, health_interval: timedelta = timedelta(minutes=1),
                 host: str = "127.0.0.1", port: int = 8080, clock: Clock | None = None,
                 metrics: Metrics | None = None, observers: Sequence[Callable[[RunSummary], None]] = (),
                 workers: int = 4, report: ReportProvider | None = None,
                 shutdown_timeout: timedelta = timedelta(seconds=25),
                 park_check: timedelta = timedelta(seconds=30), heartbeat: timedelta = timedelta(seconds=5),
                 force_exit: Callable[[int], Any] = hard_exit, companions: Sequence[Companion] = ()) -> None:
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self.stop_event = threading.Event()
        self.watcher = watcher
        self.health = health
        self.shutdown_timeout = shutdown_timeout
        self._force_exit = force_exit
        self._extra_readiness = [*readiness, *background]
        self._background = list(background)  # started and stopped with the daemon
        self._stopping = threading.Event()
        self.companions = list(companions)
        self.scheduler = Scheduler(stop=self.stop_event, clock=self.clock, workers=workers, park_check=park_check,
                                   heartbeat=heartbeat, observers=(self.metrics.record_run, log_run, *observers,
                                                                   *((health.observe_run,) if health else ())),
                                   on_skip=self.metrics.record_skip)
        for job in jobs:
            self.scheduler.add_account(job)
        if sweep is not None:
            self.scheduler.add_sweep(sweep)
        if watcher is not None:
            watcher.subscribe(on_result=lambda applied: self.metrics.record_rules(applied=applied))
            self.scheduler.add_periodic(Periodic("rules_watch", watcher.poll, watcher.check, run_at_start=False))
        if health is not None:
            self.scheduler.add_periodic(Periodic("health", health_interval,
                                                 lambda: health.refresh(skip=self.scheduler.in_flight())))
        self.http = OpsServer(OpsApp(liveness=self.liveness, readiness=self.readiness, metrics=self.metrics.render,
                                     metrics_content_type=CONTENT_TYPE, report=report), host=host, port=port)

    # -- probes -------------------------------------------------------------------------------------
    def liveness(self) -> dict[str, CheckResult]:
        """Alive: the process answers and its scheduler still dispatches (or is draining on purpose)."""
        if self._stopping.is_set():
            return {"scheduler": CheckResult(True, "stopping: finishing the runs in flight")}
        if self.scheduler.alive():
            return {"scheduler": CheckResult(True, "running")}
        return {"scheduler": CheckResult(False, "the scheduler stopped dispatching jobs")}

    def readiness(self) -> dict[str, CheckResult]:
        checks: dict[str, CheckResult] = {}
        if self.watcher is not None:
            checks.update(self.watcher.readiness())
        if self.health is not None:
            checks.update(self.health())
        for check in self._extra_readiness:
            checks.update(check())
        return checks

    @property
    def url(self) -> str:
        return self.http.url

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the rules (raising `ConfigError` on a bad file), then schedule and serve."""
        if self.watcher is not None and not self.watcher.loaded:
            self.watcher.load()
        if self.watcher is not None:
            self.metrics.record_rules(applied=self.watcher.status().ok)
        for check in self._background:
            check.start()
        self.scheduler.start()
        for companion in self.companions:
            companion.start()
        self.http.start()
        log.info("daemon_started", url=self.url, in_flight_bound_s=self.shutdown_timeout.total_seconds())

    def request_stop(self, signum: int | None = None) -> None:
        """Ask for a graceful stop; safe from a signal handler (it only sets events)."""
        self._stopping.set()

    def shutdown(self, timeout: timedelta | None = None) -> bool:
        """Stop taking work, signal the runs in flight, wait for them; True if they all finished in time."""
        self._stopping.set()
        bound = (timeout if timeout is not None else self.shutdown_timeout).total_seconds()
        in_flight = sorted(self.scheduler.in_flight())
        log.info("shutdown_started", in_flight=in_flight, bound_s=bound)
        self.scheduler.stop_taking_work()
        clean = self.scheduler.wait_idle(bound)
        for companion in reversed(self.companions):  # after the runs in flight: they write under its leases
            companion.stop()
        self.http.stop()
        for check in self._background:
            check.stop()
        if clean:
            log.info("shutdown_complete")
        else:
            log.error("shutdown_timed_out", still_running=sorted(self.scheduler.in_flight()), bound_s=bound)
        return clean

    def run(self, *, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or `request_stop`); the process exit code. The handlers stay in place
        while the runs in flight drain, so a second signal still forces the exit."""
        handlers = GracefulShutdown(self.request_stop)
        if install_signals:  # before starting: a SIGTERM during start-up is a graceful stop too
            handlers.install()
        try:
            self.start()
            while not self._stopping.wait(timeout=1.0):
                pass
            if handlers.signum is not None:
                log.info("shutdown_requested", signal=signal.Signals(handlers.signum).name)
            clean = self.shutdown()
        finally:
            if install_signals:
                handlers.restore()
        if not clean:
            self._force_exit(1)
            return 1
        return 0
