"""The marketing -> sales hand-off SLA: a due time on the business calendar and the first sales touch.

Only a touch by a person on the sales side counts: a done activity of a
configured kind (call, email, meeting by default), not automated, performed by
the owner (or the team, or any user, as configured), at or after the hand-off.
Marketing automation and auto-replies never stop the clock. Statuses:
not_started (not a prospect), running (due ahead, untouched), met (touched by
the due time), breached (due passed, untouched), late (touched after the due).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sync.model import Maturity
from sync.rules import schema
from sync.rules.calendar import Calendar
from sync.rules.decision import SlaState, SlaStatus

UTC = timezone.utc
# enum members as module constants (Python 3.11 looks `SlaStatus.MET` up through EnumType.__getattr__)
_MET = SlaStatus.MET
_LATE = SlaStatus.LATE
_RUNNING = SlaStatus.RUNNING
_BREACHED = SlaStatus.BREACHED
_COLD = Maturity.COLD


class SlaPolicy:
    def __init__(self, spec: schema.Sla) -> None:
        self.enabled = spec.enabled
        self.calendar = Calendar(spec.calendar)
        self.hours = {Maturity.COLD: spec.response_hours.cold, Maturity.WARM: spec.response_hours.warm,
                      Maturity.HOT: spec.response_hours.hot}
        self.kinds = frozenset(str(kind) for kind in spec.touch.kinds)
        self.by = spec.touch.by
        self.team = frozenset(spec.touch.team)
        self.outbound_only = spec.touch.direction == "outbound"

    def due_at(self, started_at: datetime, maturity: Maturity | None) -> datetime:
        """When the first sales touch is due for a prospect handed off at `started_at`."""
        return self.calendar.add_business_hours(started_at, self.hours[maturity or _COLD])

    def counts_as_touch(self, kind: Any, by: Any, direction: Any, done: Any, automated: Any, owner: Any) -> Any:
        if automated or not done or by is None or kind not in self.kinds:
            return False
        if self.outbound_only and direction != "outbound":
            return False
        if self.by == "owner":
            return by == owner
        if self.by == "owner_or_team":
            return by == owner or by in self.team
        return True

    def first_touch(self, acts: list[Any], owner: Any, start: float, now: float) -> tuple[Any, Any] | None:
        """(epoch, user) of the first qualifying touch in [start, now], `acts` sorted by time."""
        for at, kind, by, direction, done, automated in acts:
            if at > now:
                return None
            if at >= start and self.counts_as_touch(kind, by, direction, done, automated, owner):
                return at, by
        return None

    def state(self, acts: list[Any], owner: Any, started_at: Any, maturity: Maturity | None,
              now: float) -> SlaState:
        due = self.due_at(started_at, maturity)
        touch = self.first_touch(acts, owner, started_at.timestamp(), now)
        due_ts = due.timestamp()
        if touch is not None:
            touched_at = datetime.fromtimestamp(touch[0], UTC)
            status = _MET if touch[0] <= due_ts else _LATE
            return SlaState(status=status, started_at=started_at, due_at=due, touched_at=touched_at,
                            touched_by=touch[1])
        status = _RUNNING if now < due_ts else _BREACHED
        return SlaState(status=status, started_at=started_at, due_at=due)


__all__ = ["SlaPolicy"]
