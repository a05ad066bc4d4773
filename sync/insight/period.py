"""The period a report or a calibration covers (`--since 90d`) and its weeks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_SPAN = re.compile(r"^\s*(\d+)\s*([hdwm])\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "m": timedelta(days=30)}


def parse_span(text: str) -> timedelta:
    """`90d`, `12w`, `36h` or `6m` (a month counts 30 days). Raises ValueError with the accepted forms."""
    match = _SPAN.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a period: use a number and a unit, e.g. 90d, 12w, 36h or 6m")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(frozen=True, slots=True)
class Week:
    """A calendar week (Monday 00:00 UTC to the next Monday), cut to the period at both ends."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return self.start.strftime("%d %b")

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def since(cls, span: timedelta, now: datetime) -> Period:
        return cls(now - span, now)

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when <= self.end

    @property
    def days(self) -> int:
        return round((self.end - self.start).total_seconds() / 86400)

    def weeks(self) -> list[Week]:
        """The weeks of the period, oldest first; the first and last are partial when the period starts or
        ends mid-week."""
        monday = (self.start - timedelta(days=self.start.weekday())).replace(hour=0, minute=0, second=0,
                                                                            microsecond=0)
        out = []
        while monday < self.end:
            following = monday + timedelta(weeks=1)
            out.append(Week(max(monday, self.start), min(following, self.end)))
            monday = following
        return out
