"""What the prefetch of one pull window found, kept on disk: deals and activities per person, the persons they
touched, and the persons the window already emitted.

Why on disk: Pipedrive lists deals and activities account-wide (listing them per person would be a call per
person), so a pull reads all of the window's deals and activities before the persons they belong to, and
joins them locally. A full pull's window is the whole account: held in dicts, the mapped history was about
2 KB per person for the whole pull (70 MB at 33,000 persons), and the sets of persons touched and emitted
grew with the account too. In a `sync.spill.Scratch` file they cost its page cache; the pull reads back the
history of one page of persons at a time (`related`), so what the process holds is one page's worth,
however many persons the account has. API calls are the same either way: this only changes where the
window's rows wait.

Deals and activities are stored as msgpack of the neutral `Deal` / `Activity` structs, in listing order.
The file is removed when the pull ends (`close()`, which the pull calls in a `finally`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from sync.model import Activity, Deal
from sync.spill import Scratch, ScratchBuckets, ScratchSet

DEAL, ACTIVITY = "d", "a"
_FLUSH_EVERY = 1000  # rows buffered before one insert
_encode = msgspec.msgpack.Encoder().encode
_decode_deal = msgspec.msgpack.Decoder(Deal).decode
_decode_activity = msgspec.msgpack.Decoder(Activity).decode


class WindowHistory:
    """The deals and activities of one pull window by person id, on disk. One pull, one thread."""

    def __init__(self, *, directory: str | Path | None = None) -> None:
        self._scratch = Scratch(directory=directory, prefix="crmsync-pipedrive-window-")
        self._scratch.script("CREATE TABLE triggered (k UNIQUE); CREATE TABLE emitted (k UNIQUE);")
        self._related: ScratchBuckets[int] = ScratchBuckets(self._scratch, "related", flush_every=_FLUSH_EVERY)
        self._triggered: ScratchSet[int] = ScratchSet(self._scratch, "triggered")
        self._emitted: ScratchSet[int] = ScratchSet(self._scratch, "emitted")
        self._touched: list[int] = []
        self.largest_read = 0  # the most persons whose history was handed out at once (what tests bound)

    # -- writing, buffered -------------------------------------------------------------------------------

    def add_deal(self, person: int, deal: Deal) -> None:
        self._add(person, DEAL, deal)

    def add_activity(self, person: int, activity: Activity) -> None:
        self._add(person, ACTIVITY, activity)

    def _add(self, person: int, kind: str, item: Deal | Activity) -> None:
        self._related.add(person, kind, _encode(item))

    def trigger(self, persons: Iterable[int]) -> None:
        """Persons whose deal or activity changed in the window: part of the window's changes."""
        self._touched.extend(persons)
        if len(self._touched) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        self._related.flush()
        if self._touched:
            self._triggered.add_many(self._touched)
            self._touched = []

    # -- reading -----------------------------------------------------------------------------------------

    def related(self, persons: Sequence[int]) -> tuple[dict[int, list[Deal]], dict[int, list[Activity]]]:
        """The deals and activities of these persons (one page of them), in the order they were listed."""
        wanted = list(dict.fromkeys(persons))
        self.largest_read = max(self.largest_read, len(wanted))
        deals: dict[int, list[Deal]] = {}
        activities: dict[int, list[Activity]] = {}
        for person, kind, body in self._related.read(wanted):
            if kind == DEAL:
                deals.setdefault(person, []).append(_decode_deal(body))
            else:
                activities.setdefault(person, []).append(_decode_activity(body))
        return deals, activities

    def is_triggered(self, person: int) -> bool:
        self.flush()
        return person in self._triggered

    def emit(self, persons: Iterable[int]) -> None:
        """Persons the persons stream carried in this window: never fetched again by id."""
        self._emitted.add_many(persons)

    def pending(self, after: int, limit: int) -> list[int]:
        """Up to `limit` persons after `after`, by id, touched by a deal or activity change, not emitted."""
        self.flush()
        rows = self._scratch.execute(
            "SELECT k FROM triggered WHERE k > ? AND k NOT IN (SELECT k FROM emitted) ORDER BY k LIMIT ?",
            (after, limit),
        )
        return [int(person) for (person,) in rows]

    def close(self) -> None:
        self._touched = []
        self._related = ScratchBuckets(self._scratch, "related", flush_every=_FLUSH_EVERY)
        self._scratch.close()


__all__ = ["WindowHistory"]
