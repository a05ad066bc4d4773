"""Which of a connector's API calls the next run summary owns: every call since the previous summary.

A run's `api_calls` must be every call the connector made for it: the field setup made before the first
run, the pull and push, and the health check made while the run closes. Taking a snapshot when the run
object is built missed the setup (made before it) and the health check (made after the count). So the
engine keeps, per live connector, the point up to which calls were already reported: `mark_start` sets it
before a setup when nothing has been reported yet, `unreported` is what a run counts from, and `settle`
moves the point to now once a summary took the calls. Calls no summary owns would otherwise vanish from the
`crmsync_api_calls` counter and from `status`.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from typing import Any

_lock = threading.Lock()
_reported: weakref.WeakKeyDictionary[Any, Counter[str]] = weakref.WeakKeyDictionary()


def _calls(connector: Any) -> Counter[str]:
    return Counter(getattr(connector, "api_calls", Counter()))


def mark_start(connector: Any) -> None:
    """Calls from now on belong to the next summary, unless an earlier point is already kept."""
    with _lock:
        try:
            _reported.setdefault(connector, _calls(connector))
        except TypeError:  # a connector that cannot be weakly referenced: runs count from their own start
            pass


def unreported(connector: Any) -> Counter[str]:
    """The counts the next summary starts from: the last settled point, else the current counts."""
    with _lock:
        try:
            held = _reported.get(connector)
        except TypeError:
            held = None
        return Counter(held) if held is not None else _calls(connector)


def settle(connector: Any, start: Counter[str]) -> Counter[str]:
    """The calls made since `start`, now reported: the next summary counts from here."""
    now = _calls(connector)
    made = Counter(now)
    made.subtract(start)
    with _lock:
        try:
            _reported[connector] = now
        except TypeError:
            pass
    return Counter({category: count for category, count in made.items() if count > 0})
