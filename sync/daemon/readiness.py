"""What `/readyz` is made of: named checks that are each ok or not, with a message an operator can act on.

Readiness is answered from the *last* result of each check, never by calling a CRM while the probe waits:
an orchestrator polls `/readyz` every few seconds, and turning each poll into three CRM API calls would
spend the same budgets the sync needs (and let a slow CRM time the probe out). So CRM health is probed
on the scheduler at its own interval by a `HealthMonitor`, and `/readyz` reads what it last saw.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from sync.clock import Clock, SystemClock
from sync.contract import Health
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

    def __call__(self) -> dict[str, CheckResult]:
        with self._lock:
            known = dict(self._results)
        return {key: known.get(key, CheckResult(False, "not checked yet")) for key in self.probes}
