"""When marketing handed a contact to sales: the moment the SLA clock starts.

The SLA measures how fast sales reacts to marketing's hand-off, so a sales
conversation can never both start the clock and stop it. The engine replays
the contact's history within its current run of activity (no gap longer than
the nurture window), each time seeing only what was dated up to then:

1. It finds the earliest instant from which the contact qualifies (a bisection
   over at most `MAX_REPLAY` dated signals).
2. It asks whether marketing's data alone qualified it by then: the same
   replay with the sales side hidden (the activities sales logged, and the
   events that are the contact's side of a conversation with sales,
   `sla.handoff.sales_events`). If so, the hand-off is the earliest instant
   from which that view qualifies: the demo request, the form that stated the
   need, the score crossing the threshold (`marketing`).
3. Otherwise only a sales conversation qualified it: the hand-off is the
   earliest marketing signal of the run, if it came before sales first touched
   the contact (the download that led to the follow-up: `marketing`); else
   sales found the prospect itself and the SLA is met at the hand-off (`sales`).

A contact that qualifies before any dated signal of its run (from its profile
and fields alone, which CRMs do not date) is dated from what surrounds the
undated data:
- sales touched it after a marketing signal: the fields are what the sales
  conversation revealed (the seed's discovery call after a download), so the
  hand-off is the run's earliest marketing signal, as in 3. (`marketing`);
- nobody from sales touched it and crmsync never saw it before (a first sync):
  the answers came with a form the contact submitted, by the latest of them
  (`sla.handoff.answer_events`) at the latest: the hand-off is that form, which
  never dates a breach earlier than the data shows (`marketing`);
- otherwise (sales had it before marketing did, no form, or crmsync saw it not
  qualify before and the fields changed since) there is no dated hand-off: the
  engine uses the moment crmsync first saw it qualify (`first_seen`).
A contact back from a long silence (a gap longer than the nurture window) is
handed off again at the signal that brought it back, not at its old
qualification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sync.rules.assessment import Assessor
from sync.rules.context import Context
from sync.rules.history import HistoryReader, aware
from sync.rules.sla import MARKETING, SALES, SlaPolicy

MAX_REPLAY = 512  # most recent dated signals examined when looking for the hand-off moment


class Handoff(NamedTuple):
    at: float  # epoch seconds
    kind: str  # MARKETING or SALES (FIRST_SEEN is decided by the engine: no dated hand-off)


class HandoffFinder:
    """Finds the hand-off of contacts for one rules version."""

    def __init__(self, assessor: Assessor, history: HistoryReader, sla: SlaPolicy, inactive_seconds: float) -> None:
        self.assessor = assessor
        self.history = history
        self.sla = sla
        self.inactive_seconds = inactive_seconds
        self.quiet_events = history.ignore_events  # not activity (email opens): they neither start nor extend a run
        self.sales_events = sla.sales_events
        self.answer_events = sla.answer_events

    def run_start(self, context: Context) -> tuple[float | None, bool]:
        """(start of the contact's current run of activity, whether it had activity before that run)."""
        times = self._activity_times(context)
        if not times:
            return None, False
        gap = self.inactive_seconds
        index = len(times) - 1
        while index > 0 and times[index] - times[index - 1] <= gap:
            index -= 1
        return times[index], index > 0

    def find(self, context: Context, seen_before: bool = False,
             known: tuple[list[Any], list[Any]] | None = None) -> Handoff | None:
        """The dated hand-off, or None when it cannot be dated (the engine then uses `first_seen`).
        `seen_before`: crmsync evaluated this contact before (it has a memory), so undated data that qualifies it
        now may have changed since. `known`: the static rules' and criteria's values, when the caller has them."""
        start, had_earlier_run = self.run_start(context)
        if start is None:
            return None
        now, assessor = context.now, self.assessor
        instants = self._instants(context, start, now)
        if known is None:
            known = assessor.static_values(context)
        if not assessor.qualifies_at(context, instants[-1], known):
            return None  # qualifies now through something undated that changed since its last signal
        if assessor.qualifies_at(context, instants[0], known):
            if not had_earlier_run and assessor.qualifies_at(context, instants[0] - 1.0, known):
                return self._undated(context, start, seen_before)  # qualified before its first dated signal
            qualified = instants[0]  # (after a long silence, the signal that brought it back)
        else:
            qualified = _earliest(instants, lambda at: assessor.qualifies_at(context, at, known), failing=0)
        if not self._sales_side_before(context, qualified):
            # nothing sales did is dated up to then: the marketing view is the same contact, which did not
            # qualify before `qualified` (the search above)
            return Handoff(qualified, MARKETING)
        marketing = self._marketing_view(context)
        if assessor.qualifies_at(marketing, qualified, known):
            signals = [at for at in self._instants(marketing, start, qualified) if at <= qualified]
            signals.append(qualified)
            return Handoff(_earliest(signals, lambda at: assessor.qualifies_at(marketing, at, known)), MARKETING)
        first_signal = self._first_marketing_signal(context, start, qualified)
        touches = self.sla.touches(context.activity_rows, context.owner, start, qualified)
        if first_signal is not None and (not touches or first_signal < touches[0][0]):
            return Handoff(first_signal, MARKETING)
        return Handoff(qualified, SALES)

    def _undated(self, context: Context, start: float, seen_before: bool) -> Handoff | None:
        """The hand-off of a contact that undated data (profile, fields) qualifies, dated by what surrounds it."""
        now = context.now
        first_signal = self._first_marketing_signal(context, start, now, inclusive=True)
        if first_signal is None:
            return None  # nothing marketing did: crmsync's first sight (and sales' recent touches) decide
        touches = self.sla.touches(context.activity_rows, context.owner, start, now)
        if touches:
            if first_signal < touches[0][0]:
                return Handoff(first_signal, MARKETING)  # the conversation that followed marketing's signal
            return None  # sales had it before marketing did
        if seen_before:
            return None  # it did not qualify when crmsync last saw it: the fields changed since, at no known time
        latest = self._latest_answer(context, start, now)
        return Handoff(latest, MARKETING) if latest is not None else None

    def _latest_answer(self, context: Context, start: float, end: float) -> float | None:
        """The latest form the contact submitted in [start, end] (`sla.handoff.answer_events`)."""
        answers, latest = self.answer_events, None
        for event in context.contact.events or ():
            if event.type in answers:
                at = aware(event.at).timestamp()
                if start <= at <= end and (latest is None or at > latest):
                    latest = at
        return latest

    def _sales_side_before(self, context: Context, moment: float) -> bool:
        """Whether anything the marketing view hides is dated at or before `moment`."""
        for at, _, _, _, _, _, accepted, _ in context.activity_rows:
            if at <= moment or (accepted is not None and accepted <= moment):
                return True
        sales_events = self.sales_events
        return any(event.type in sales_events and aware(event.at).timestamp() <= moment
                   for event in context.contact.events or ())

    def _activity_times(self, context: Context) -> list[float]:
        """When the contact was active, as nurture sees it: events but the quiet ones, done activities by a
        person, meetings the contact accepted; up to now, sorted."""
        now, quiet = context.now, self.quiet_events
        times = []
        for event in context.contact.events or ():
            if event.type not in quiet:
                at = aware(event.at).timestamp()
                if at <= now:
                    times.append(at)
        for at, _, _, _, done, automated, accepted, withdrawn in context.activity_rows:
            if done and not automated and at <= now:
                times.append(at)
            if accepted is not None and not withdrawn and accepted <= now:
                times.append(accepted)
        times.sort()
        return times

    @staticmethod
    def _instants(context: Context, start: float, end: float) -> list[float]:
        """The dated signals in [start, end] at which the qualification can change (the run's start always
        among them), the last MAX_REPLAY of them, sorted."""
        moments = {at for bucket in context.event_times.values() for at in bucket if start <= at <= end}
        for at, _, _, _, _, _, accepted, _ in context.activity_rows:
            if start <= at <= end:
                moments.add(at)
            if accepted is not None and start <= accepted <= end:
                moments.add(accepted)
        moments.add(start)
        return sorted(moments)[-MAX_REPLAY:]

    def _marketing_view(self, context: Context) -> Context:
        """The same contact with the sales side hidden: no logged activities, no conversation events."""
        sales_events = self.sales_events
        events = [event for event in context.contact.events or () if event.type not in sales_events]
        # a context of its own: what the full view remembered (named conditions' answers) does not hold here
        return Context(context.contact, context.now, self.history.event_times(events), [],
                       context.recurring_months, context.title_levels)

    def _first_marketing_signal(self, context: Context, start: float, end: float,
                                inclusive: bool = False) -> float | None:
        """The earliest event in [start, end) (or [start, end]) that is marketing's: not a conversation with
        sales, not quiet."""
        skip = self.sales_events | self.quiet_events
        first = None
        for event in context.contact.events or ():
            if event.type not in skip:
                at = aware(event.at).timestamp()
                if start <= at and (at < end or (inclusive and at == end)) and (first is None or at < first):
                    first = at
        return first


def _earliest(moments: list[float], qualifies: Callable[[float], bool], failing: int = -1) -> float:
    """The earliest of `moments` (sorted) from which `qualifies` holds, knowing it holds at the last one and not
    at `moments[failing]` (-1: before them all). A bisection: once qualified within a run, a contact is taken
    to stay qualified."""
    low, high = failing, len(moments) - 1
    while high - low > 1:
        middle = (low + high) // 2
        if qualifies(moments[middle]):
            high = middle
        else:
            low = middle
    return moments[high]


__all__ = ["MAX_REPLAY", "Handoff", "HandoffFinder"]
