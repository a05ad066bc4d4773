"""What `/readyz` is made of: named checks that are each ok or not, with a message an operator can act on.

Readiness is answered from the *last* result of each check, never by calling a CRM or the database while
the probe waits: an orchestrator polls `/readyz` every few seconds, and turning each poll into three CRM API
calls would spend the same budgets the sync needs (and let a slow CRM time the probe out), while a query per
poll on a locked or lost database would pin one server thread per probe until the database answered. So
CRM health is probed on the scheduler at its own interval by a `HealthMonitor`, the database by a
`BackgroundCheck` on a thread of its own, and `/readyz` reads what they last saw. A background check that
has been waiting longer than its bound is reported as not answering, so a database that hangs (a
black-holed network, a full connection queue) turns `/readyz` red within one check period too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from sync.clock import Clock, SystemClock
from sync.contract import Health
from sync.daemon.report import RunOutcome, RunSummary
from sync.errors import AuthExpired, AuthFailed, CrmsyncError

log = structlog.get_logger("crmsync.daemon.readiness")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One readiness check. `details` carries lines an admin must read verbatim (the located
    `PATH:LINE:COL: message` issues of a rejected rules file)."""

    ok: bool
    message: str = ""
    details: tuple[str, ...] = ()
    checked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "message": self.message}
        if self.details:
            body["details"] = list(self.details)
        if self.checked_at is not None:
            body["checked_at"] = self.checked_at.isoformat()
        return body


ReadinessCheck = Callable[[], Mapping[str, CheckResult]]


def result_from_health(health: Health, *, at: datetime) -> CheckResult:
    """A CRM account is ready when it is reachable and our credentials are accepted."""
    if not health.reachable:
        return CheckResult(False, health.message or "CRM not reachable", checked_at=at)
    if not health.authorised:
        return CheckResult(False, health.message or "CRM rejected the credentials", checked_at=at)
    return CheckResult(True, health.message or "reachable and authorised", checked_at=at)


@dataclass
class HealthMonitor:
    """Runs one health probe per CRM account when asked (`refresh`, scheduled by the daemon) and keeps
    the last result of each. Probes are keyed like the accounts' `AccountJob.key`. An account never probed yet is not ready: the daemon has not shown it can
    reach that CRM. A probe that raises is a failed check with the error's user-facing message, never
    its detail (which may hold a URL or a response body)."""

    probes: Mapping[str, Callable[[], Health]]
    clock: Clock = field(default_factory=SystemClock)
    _results: dict[str, CheckResult] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def refresh(self, skip: Collection[str] = ()) -> dict[str, CheckResult]:
        """Probe every account except those in `skip` (the daemon passes the accounts whose sync is in
        flight: their connector is busy, may not be thread-safe, and the run itself will tell)."""
        fresh: dict[str, CheckResult] = {}
        for key, probe in self.probes.items():
            if key in skip:
                continue
            fresh[key] = self._probe(key, probe)
            with self._lock:
                self._results[key] = fresh[key]
        return fresh

    def _probe(self, key: str, probe: Callable[[], Health]) -> CheckResult:
        at = self.clock.now()
        try:
            result = result_from_health(probe(), at=at)
        except (AuthFailed, AuthExpired) as exc:
            result = CheckResult(False, f"not authorised: {exc.user_message}", checked_at=at)
        except CrmsyncError as exc:
            result = CheckResult(False, f"not reachable: {exc.user_message}", checked_at=at)
        except Exception as exc:  # a bug in a connector must not take readiness (or the daemon) down
            log.exception("health_probe_crashed", check=key, error_type=type(exc).__name__)
            result = CheckResult(False, f"health check crashed ({type(exc).__name__})", checked_at=at)
        if not result.ok:
            log.warning("account_not_ready", check=key, reason=result.message)
        return result

    def observe_run(self, summary: RunSummary) -> None:
        """A run that finished well has just reached the CRM with the account's credentials: that is a health
        check too. It stands in for the probes skipped while the account was busy (a frequent account is
        mid-run at most probe times), but never overrides a newer probe's failure."""
        key = f"{summary.crm}/{summary.account}"
        if key not in self.probes or summary.outcome not in (RunOutcome.OK, RunOutcome.PARTIAL):
            return
        if not summary.api_calls:  # nothing was asked of the CRM (an empty sweep): no evidence either way
            return
        at = summary.finished_at or self.clock.now()
        with self._lock:
            known = self._results.get(key)
            if known is None or known.checked_at is None or known.checked_at <= at:
                self._results[key] = CheckResult(True, "reachable and authorised (its last run)", checked_at=at)

    def __call__(self) -> dict[str, CheckResult]:
        with self._lock:
            known = dict(self._results)
        return {key: known.get(key, CheckResult(False, "not checked yet")) for key in self.probes}


class BackgroundCheck:
    """One readiness check run on a daemon thread of its own every `interval`; calling it returns the last
    result at once. While an answer is overdue by more than `bound`, the check reads as not answering (with
    how long it has waited), whatever it said before."""

    def __init__(self, check: Callable[[], Mapping[str, CheckResult]], *, names: Collection[str],
                 interval: timedelta, bound: timedelta, clock: Clock | None = None, name: str = "check") -> None:
        self.check, self.names, self.interval, self.bound = check, tuple(names), interval, bound
        self.clock = clock or SystemClock()
        self.name = name
        self._results: dict[str, CheckResult] = {}
        self._started: float | None = None  # monotonic start of the check in progress
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        with self._lock:
            self._started = time.monotonic()
        try:
            results = dict(self.check())
        except Exception as exc:  # a crashing check is a failing one, and the thread goes on
            log.exception("readiness_check_crashed", check=self.name, error_type=type(exc).__name__)
            results = {name: CheckResult(False, f"check crashed ({type(exc).__name__})") for name in self.names}
        at = self.clock.now()
        with self._lock:
            self._started = None
            self._results = {name: CheckResult(r.ok, r.message, r.details, r.checked_at or at)
                             for name, r in results.items()}

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval.total_seconds())

    def start(self) -> BackgroundCheck:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=f"readiness-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop checking; a check still waiting on its database is left to its own timeouts (daemon thread)."""
        self._stop.set()
        self._thread = None

    def __call__(self) -> dict[str, CheckResult]:
        with self._lock:
            results, started = dict(self._results), self._started
        waited = time.monotonic() - started if started is not None else 0.0
        if started is not None and waited > self.bound.total_seconds():
            return {name: CheckResult(False, f"not answering: the check has waited {waited:.0f} s")
                    for name in self.names}
        return {name: results.get(name, CheckResult(False, "not checked yet")) for name in self.names}
