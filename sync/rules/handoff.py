"""When a contact became a prospect: the moment its own dated history shows it qualifying.

The engine re-evaluates the contact as of the times of its events and
activities within its current run of activity (no gap longer than the nurture
window), each time seeing only what was dated up to then, and takes the
earliest from which it qualifies: a bisection over at most `MAX_REPLAY` signals.
"""

from __future__ import annotations

from sync.rules.assessment import Assessor
from sync.rules.context import Context

MAX_REPLAY = 512  # most recent dated signals examined when looking for the hand-off moment


def find_handoff(context: Context, assessor: Assessor, inactive_seconds: float) -> float | None:
    """The dated signal (event or activity) from which the contact qualifies, within its current run of
    activity. None when it qualified before any dated signal (from profile and fields alone): then the
    time is unknown."""
    now = context.now
    times = {at for bucket in context.event_times.values() for at in bucket if at <= now}
    times.update(row[0] for row in context.activity_rows if row[0] <= now)
    ordered = sorted(times)[-MAX_REPLAY:]
    if not ordered:
        return None
    start = len(ordered) - 1
    while start > 0 and ordered[start] - ordered[start - 1] <= inactive_seconds:
        start -= 1
    run = ordered[start:]
    known = assessor.static_values(context)
    if not assessor.qualifies_at(context, run[-1], known):
        return None
    if assessor.qualifies_at(context, run[0], known):
        return None if assessor.qualifies_at(context, run[0] - 1.0, known) else run[0]
    low, high = 0, len(run) - 1  # run[low] does not qualify, run[high] does
    while high - low > 1:
        middle = (low + high) // 2
        if assessor.qualifies_at(context, run[middle], known):
            high = middle
        else:
            low = middle
    return run[high]


__all__ = ["MAX_REPLAY", "find_handoff"]
