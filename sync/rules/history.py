"""A contact's dated history, read once per evaluation into the context the predicates share.

One pass over the events buckets the times of the types the rules read (events
of other types are not even converted); one pass over the activities makes
tuples sorted by time. Every timestamp is still checked on the way, so bad data
raises here and the engine reports it as a record error. The last moment of
activity, which decides nurture, is read from the same data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timezone
from operator import itemgetter
from typing import Any

from sync.model import ActivityKind
from sync.rules.context import ANY_TYPE, Context, Plan

UTC = timezone.utc
_BY_TIME = itemgetter(0)
_MEETING = ActivityKind.MEETING
WITHDRAWN = frozenset({"canceled", "cancelled", "declined"})  # meeting outcomes that undo an acceptance
NOT_HELD = WITHDRAWN | {"no_show", "rescheduled", "scheduled"}  # outcomes of a meeting that did not take place


def aware(moment: Any) -> Any:
    """A naive datetime is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class HistoryReader:
    """Builds the evaluation context of a contact for one rules version (what it buckets comes from the plan)."""

    def __init__(self, plan: Plan, recurring_months: int, ignore_events: frozenset[str],
                 title_levels: Callable[[Any], str | None] | None = None) -> None:
        self.recurring_months = recurring_months
        self.ignore_events = ignore_events
        self.title_levels = title_levels
        self._types = frozenset(plan.types)
        self._by_type_only = plan.by_type_only
        self._any_type = plan.any_type
        self._pairs = frozenset(plan.pairs)
        self._any_sources = frozenset(plan.any_type_sources)

    def context(self, contact: Any, now: float) -> Context:
        return Context(contact, now, self.event_times(contact.events), self.activity_rows(contact.activities),
                       self.recurring_months, self.title_levels)

    def event_times(self, events: Any) -> dict[Any, list[float]]:
        buckets: dict[Any, list[float]] = {}
        if not events:
            return buckets
        if self._by_type_only:
            # the usual plan: one dict lookup per event; the bucket is made on the first event of a type a
            # rule reads (every event's time is still converted, so bad data raises)
            types, get = self._types, buckets.get
            for event in events:
                at = event.at
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                kind = event.type
                times = get(kind)
                if times is not None:
                    times.append(at.timestamp())
                elif kind in types:
                    buckets[kind] = [at.timestamp()]
        else:
            self._bucket_all(events, buckets)
        for times in buckets.values():
            if len(times) > 1:
                times.sort()
        return buckets

    def _bucket_all(self, events: Any, buckets: dict[Any, list[float]]) -> None:
        """Bucketing for plans that also read events of any type or by source."""
        types, any_type, pairs, any_sources = self._types, self._any_type, self._pairs, self._any_sources
        by_source = bool(pairs or any_sources)
        for event in events:
            at = aware(event.at).timestamp()
            kind = event.type
            times = buckets.get(kind)
            if times is not None:
                times.append(at)
            elif kind in types:
                buckets[kind] = [at]
            if any_type:
                buckets.setdefault(ANY_TYPE, []).append(at)
            if by_source:
                source = event.source
                if (kind, source) in pairs:
                    buckets.setdefault((kind, source), []).append(at)
                if source in any_sources:
                    buckets.setdefault((ANY_TYPE, source), []).append(at)

    @staticmethod
    def activity_rows(activities: Any) -> list[Any]:
        """(epoch, kind, by, direction, done, automated, accepted epoch or None, withdrawn) per activity,
        sorted by time. `withdrawn`: a canceled or declined meeting, whose acceptance no longer counts.
        A meeting that took place (done, not a no-show) was accepted, at the latest when it was held: CRMs that
        do not record when the contact accepted (Salesforce events, HubSpot meetings) still show it."""
        rows: list[Any] = []
        if activities:
            append = rows.append
            for activity in activities:
                at = activity.at
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                moment = at.timestamp()
                accepted = activity.accepted_at
                outcome = activity.outcome
                if accepted is not None:
                    accepted = aware(accepted).timestamp()
                elif activity.kind == _MEETING and activity.done is True and not activity.automated and (
                        outcome is None or outcome not in NOT_HELD):
                    accepted = moment
                append((moment, activity.kind, activity.by, activity.direction, activity.done,
                        activity.automated, accepted, outcome is not None and outcome in WITHDRAWN))
            if len(rows) > 1:
                rows.sort(key=_BY_TIME)
        return rows

    def last_active(self, context: Context) -> float | None:
        """The last time (at or before now) the contact did anything that counts as activity, or a person
        logged a done activity with them, or they accepted a meeting; the creation time when nothing else is
        dated; None when nothing is.
        Computed only for contacts where nurture is possible."""
        now, ignore, last = context.now, self.ignore_events, -math.inf
        for event in context.contact.events or ():
            if event.type not in ignore:
                at = aware(event.at).timestamp()
                if last < at <= now:
                    last = at
        for at, _, _, _, done, automated, accepted, withdrawn in context.activity_rows:
            if done and not automated and last < at <= now:
                last = at
            if accepted is not None and not withdrawn and last < accepted <= now:
                last = accepted  # the contact accepted a meeting: their own doing
        created = context.contact.created_at
        if created is not None:
            at = aware(created).timestamp()
            if last < at <= now:
                last = at
        return last if last > -math.inf else None


__all__ = ["WITHDRAWN", "HistoryReader", "aware"]
