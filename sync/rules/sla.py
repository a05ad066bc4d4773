"""The marketing -> sales hand-off SLA: a due time on the business calendar and the first sales touch.

Only a touch by a person on the sales side counts: a done activity of a
configured kind (call, email, meeting by default), not automated, performed by
the owner (or the team, or any user, as configured), at or after the hand-off;
a meeting the contact accepted counts from the moment they accepted it, held or
not yet (sales reached them). Marketing automation and auto-replies never stop
the clock. Statuses: not_started (not a prospect), running (due ahead,
untouched), met (touched by the due time), breached (due passed, untouched),
late (touched after the due).

How the hand-off was dated (`sync.rules.handoff`) changes what counts:
- `marketing`: a marketing signal qualified the contact, or preceded the sales
  conversation that did: the clock runs from it;
- `sales`: sales found the prospect itself: `met` at the hand-off;
- `first_seen`: it qualified from undated data, so the hand-off is when crmsync
  first saw it; a sales touch in the `handoff.recent_touch_days` before means
  the contact is already in sales' hands: `met`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sync.model import Maturity
from sync.rules import schema
from sync.rules.calendar import Calendar
from sync.rules.context import DAY
from sync.rules.decision import SlaState, SlaStatus

UTC = timezone.utc
MARKETING, SALES, FIRST_SEEN = "marketing", "sales", "first_seen"
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
        self.sales_events = frozenset(spec.handoff.sales_events)
        self.answer_events = frozenset(spec.handoff.answer_events)
        self.recent_touch_seconds = spec.handoff.recent_touch_days * DAY

    def due_at(self, started_at: datetime, maturity: Maturity | None) -> datetime:
        """When the first sales touch is due for a prospect handed off at `started_at`."""
        return self.calendar.add_business_hours(started_at, self.hours[maturity or _COLD])

    def _by_sales(self, kind: Any, by: Any, direction: Any, automated: Any, owner: Any) -> bool:
        if automated or by is None or kind not in self.kinds:
            return False
        if self.outbound_only and direction != "outbound":
            return False
        if self.by == "owner":
            return bool(by == owner)
        if self.by == "owner_or_team":
            return bool(by == owner or by in self.team)
        return True

    def touches(self, rows: list[Any], owner: Any, start: float, end: float) -> list[tuple[float, Any]]:
        """(epoch, user) of every sales touch in [start, end], by time: a done activity at its time, a meeting
        the contact accepted at the time they accepted it."""
        found = []
        for at, kind, by, direction, done, automated, accepted, withdrawn in rows:
            if not self._by_sales(kind, by, direction, automated, owner):
                continue
            if done and start <= at <= end:
                found.append((at, by))
            if accepted is not None and not withdrawn and start <= accepted <= end:
                found.append((accepted, by))
        found.sort(key=_first)
        return found

    def state(self, rows: list[Any], owner: Any, started_at: datetime, kind: str | None,
              maturity: Maturity | None, now: float) -> SlaState:
        due = self.due_at(started_at, maturity)
        start = started_at.timestamp()
        if kind == SALES:  # sales found it: taken in charge at the hand-off
            return SlaState(status=_MET, started_at=started_at, due_at=due, touched_at=started_at,
                            touched_by=_user_at(rows, start), handoff=kind)
        if kind == FIRST_SEEN:
            recent = self.touches(rows, owner, start - self.recent_touch_seconds, start)
            if recent:  # already in sales' hands when crmsync first saw it qualify
                at, by = recent[-1]
                return SlaState(status=_MET, started_at=started_at, due_at=due,
                                touched_at=datetime.fromtimestamp(at, UTC), touched_by=by, handoff=kind)
        after = self.touches(rows, owner, start, now)
        due_ts = due.timestamp()
        if after:
            at, by = after[0]
            return SlaState(status=_MET if at <= due_ts else _LATE, started_at=started_at, due_at=due,
                            touched_at=datetime.fromtimestamp(at, UTC), touched_by=by, handoff=kind)
        return SlaState(status=_RUNNING if now < due_ts else _BREACHED, started_at=started_at, due_at=due,
                        handoff=kind)


def _first(item: tuple[float, Any]) -> float:
    return item[0]


def _user_at(rows: list[Any], moment: float) -> Any:
    """Who logged the activity dated (or accepted) at `moment`: the sales conversation that qualified it."""
    for at, _, by, _, _, _, accepted, _ in rows:
        if at == moment or accepted == moment:
            return by
    return None


__all__ = ["FIRST_SEEN", "MARKETING", "SALES", "SlaPolicy"]
