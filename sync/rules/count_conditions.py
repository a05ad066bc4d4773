"""Count conditions compiled into predicates: engagement events, sales activities, deals, and score tests.

Every count is bounded above by `context.now`: an event or activity dated
after the evaluation instant is not a signal yet (a future timestamp is bad
data), and the same closures evaluate a contact as of an earlier instant when
the engine looks for the moment it first qualified.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

from sync.model import DealStatus
from sync.rules import schema
from sync.rules.context import DAY, Context, Plan, Predicate
from sync.rules.field_conditions import range_test
from sync.rules.values import to_epoch, to_number


def as_list(value: Any) -> list[Any] | None:
    """One value or a list of them, as a list (None stays None: "any")."""
    if value is None:
        return None
    return list(value) if isinstance(value, list) else [value]


def count_test(at_least: int, at_most: int | None) -> Callable[[int], bool]:
    if at_most is None:
        return lambda count: count >= at_least
    return lambda count: at_least <= count <= at_most


def count_events(keys: list[Any], within_days: float | None) -> Callable[[Context], int]:
    """The number of events in the given buckets at or before `now` (and within the window, if any)."""
    span = within_days * DAY if within_days else None
    if len(keys) == 1:
        key = keys[0]
        if span is None:
            def count_all(context: Context) -> int:
                times = context.event_times.get(key)
                return bisect_right(times, context.now) if times else 0
            return count_all

        def count_window(context: Context) -> int:
            times = context.event_times.get(key)
            if not times:
                return 0
            now = context.now
            end = len(times) if times[-1] <= now else bisect_right(times, now)
            return end - bisect_left(times, now - span)
        return count_window

    def count_many(context: Context) -> int:
        now, total, buckets = context.now, 0, context.event_times
        for key in keys:
            times = buckets.get(key)
            if times:
                total += bisect_right(times, now) - (bisect_left(times, now - span) if span is not None else 0)
        return total
    return count_many


def compile_events(condition: schema.EventsCondition, plan: Plan) -> Predicate:
    query = condition.events
    keys = plan.event_keys(as_list(query.type), as_list(query.source))
    count = count_events(keys, query.within_days)
    if query.at_most is None and query.at_least == 1:
        return lambda context: count(context) > 0
    check = count_test(query.at_least, query.at_most)
    return lambda context: check(count(context))


def compile_activities(condition: schema.ActivitiesCondition, plan: Plan) -> Predicate:
    query = condition.activities
    kinds = frozenset(str(kind) for kind in as_list(query.kind) or ()) if query.kind is not None else None
    span = query.within_days * DAY if query.within_days else None
    by, direction, team = query.by, query.direction, plan.team
    with_automated, with_open, accepted_only = query.include_automated, query.include_open, query.accepted
    check = count_test(query.at_least, query.at_most)
    # "at least one" (the usual query) stops at the first activity that counts
    enough = 1 if query.at_least == 1 and query.at_most is None else math.inf

    def count(context: Context) -> int:
        now, owner, total = context.now, context.owner, 0
        start = now - span if span is not None else -math.inf
        for at, kind, user, way, done, automated, accepted, withdrawn in context.activity_rows:
            if accepted_only:  # meetings the contact accepted, from the moment they did, held or not yet
                if accepted is None or withdrawn or not start <= accepted <= now:
                    continue
            else:
                if at > now:
                    break
                if at < start or (not done and not with_open):
                    continue
            if (kinds is not None and kind not in kinds) or (automated and not with_automated):
                continue
            if direction is not None and way != direction:
                continue
            if by == "owner" and (user is None or user != owner):
                continue
            if by == "sales" and (user is None or (user != owner and user not in team)):
                continue
            total += 1
            if total >= enough:
                break
        return total
    return lambda context: check(count(context))


def deal_is_recurring(deal: Any, min_months: int) -> bool:
    """A deal's nature: its recurring flag when the CRM says, else a contract of at least `min_months`."""
    if deal.recurring is not None:
        return bool(deal.recurring)
    months = deal.contract_months
    return isinstance(months, int) and not isinstance(months, bool) and months >= min_months


def compile_deals(condition: schema.DealsCondition) -> Predicate:
    query = condition.deals
    statuses = (frozenset(DealStatus(status) for status in as_list(query.status) or ())
                if query.status is not None else None)
    stages = frozenset(as_list(query.stage) or ()) if query.stage is not None else None
    lowest, highest, recurring = query.amount_gte, query.amount_lte, query.recurring
    span = query.closed_within_days * DAY if query.closed_within_days else None
    check = count_test(query.at_least, query.at_most)

    def matches(deal: Any, context: Context) -> bool:
        if statuses is not None and deal.status not in statuses:
            return False
        if stages is not None and deal.stage not in stages:
            return False
        if lowest is not None or highest is not None:
            amount = to_number(deal.amount)
            if amount is None or (lowest is not None and amount < lowest) or (highest is not None and amount > highest):
                return False
        if recurring is not None and deal_is_recurring(deal, context.recurring_months) is not recurring:
            return False
        if span is not None:
            closed = to_epoch(deal.close_date)
            if closed is None or not context.now - span <= closed <= context.now:
                return False
        return True

    when_none = check(0)

    def count(context: Context) -> bool:
        deals = context.deals
        if not deals:
            return when_none
        return check(sum(1 for deal in deals if matches(deal, context)))
    return count


def compile_score(condition: schema.ScoreCondition) -> Predicate:
    index = ("total", "fit", "engagement", "intent").index(condition.score)
    in_range = range_test(condition.gt, condition.gte, condition.lt, condition.lte)
    return lambda context: in_range(context.scores[index])


__all__ = ["as_list", "compile_activities", "compile_deals", "compile_events", "compile_score", "count_events",
           "count_test", "deal_is_recurring"]
