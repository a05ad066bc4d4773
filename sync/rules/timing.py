"""Buying windows in free text: does a stated timing name a window that closes within the sales horizon?

A timing is credible when it names a window that ends within the horizon sales
works on (12 months by default, `qualification.timing_horizon_months`), and has
not already passed: "within 6 months", "dans 3 mois", "d'ici six mois", "Q3",
"T3 2027", "next quarter", "le trimestre prochain", "this year", "by March",
"ASAP", "3-6 months", an ISO date. "Within 36 months", "next year" seen from
November (it ends 13+ months away), "some day", "no timeline", "not before
2028", "12+ months" name no window inside the horizon.

The text is folded first (no case, no accents: `sync.rules.text`), then read
by one regular expression whose alternatives are tried at each position in
order, so the leftmost phrase decides ("no timeline, maybe Q3" is no window;
"Q3, then a second phase next year" is Q3). A quarter, half, month or season
without a year is its next occurrence that has not ended. Windows are relative
to the evaluation instant, so a "Q3" stated in October is credible and the
same text read two years later still means the next Q3: the CRM does not say
when the field was filled.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, datetime, timezone
from functools import cache
from typing import Any

from sync.rules.text import fold

UTC = timezone.utc
Window = tuple[Any, ...]  # ("months", n) | ("days", n) | ("now",) | ("this", unit, 0|1) | ("quarter", q, year)...

_EN_NUMBERS = {
    "a couple of": 2, "couple of": 2, "a few": 3, "few": 3, "several": 6, "twenty-four": 24, "twenty four": 24,
    "thirty-six": 36, "thirty six": 36, "eighteen": 18, "fifteen": 15, "twelve": 12, "eleven": 11, "twenty": 20,
    "thirty": 30, "ten": 10, "nine": 9, "eight": 8, "seven": 7, "six": 6, "five": 5, "four": 4, "three": 3,
    "two": 2, "one": 1, "an": 1, "a": 1,
}
_FR_NUMBERS = {
    "vingt-quatre": 24, "vingt quatre": 24, "trente-six": 36, "trente six": 36, "dix-huit": 18, "dix huit": 18,
    "quelques": 3, "plusieurs": 6, "quinze": 15, "douze": 12, "onze": 11, "vingt": 20, "trente": 30, "deux": 2,
    "trois": 3, "quatre": 4, "cinq": 5, "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "une": 1, "un": 1,
}
_WORDS = {**_EN_NUMBERS, **_FR_NUMBERS, "six": 6}
_NUMBER = r"\d{1,3}(?:[.,]5)?|" + "|".join(re.escape(word) for word in sorted(_WORDS, key=len, reverse=True))
_UNIT = r"days?|jours?|weeks?|semaines?|months?|mois|years?|ans?|annees?|quarters?|trimestres?"
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sept": 9, "sep": 9, "oct": 10, "nov": 11, "dec": 12, "janvier": 1,
    "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8, "septembre": 9,
    "octobre": 10, "novembre": 11, "decembre": 12,
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_SEASONS = {"spring": 6, "printemps": 6, "summer": 9, "ete": 9, "autumn": 12, "fall": 12, "automne": 12,
            "winter": 3, "hiver": 3, "rentree": 9}  # the month a season ends in ("la rentree": early September)
_ORDINALS = {"first": 1, "1st": 1, "1er": 1, "premier": 1, "second": 2, "2nd": 2, "2e": 2, "2eme": 2,
             "deuxieme": 2, "third": 3, "3rd": 3, "3e": 3, "3eme": 3, "troisieme": 3, "fourth": 4, "4th": 4,
             "4e": 4, "4eme": 4, "quatrieme": 4}
_ORDINAL = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_YEAR = r"20\d{2}"
_CALENDAR_UNITS = {"week": "week", "semaine": "week", "month": "month", "mois": "month", "quarter": "quarter",
                   "trimestre": "quarter", "half": "half", "semestre": "half", "year": "year", "annee": "year",
                   "an": "year"}

# Tried at each position in this order: the first alternative that matches at the leftmost position wins.
_PARTS = (
    ("range", rf"\b(?:between\s+|entre\s+)?(?P<range_low>{_NUMBER})\s*(?:-|to|a|et|/)\s*(?P<range_high>{_NUMBER})"
              rf"\s*(?P<range_unit>{_UNIT})\b"),
    ("bounded", r"\b(?:within(?: the next)?|in the next|over the next|during the next|in|next|under|less than|"
                r"before|dans(?: les)?|d'ici(?: a)?|sous|en moins de|moins de|avant|sur les|au cours des)\s+"
                rf"(?P<bounded_number>{_NUMBER})\s*(?P<bounded_unit>{_UNIT})\b"),
    ("bounded_sign", rf"<\s*(?P<sign_number>{_NUMBER})\s*(?P<sign_unit>{_UNIT})\b"),
    ("open", rf"\b(?:more than|over|beyond|after|at least|no earlier than|not before|plus de|au-dela d[eu']|"
             rf"apres|au moins|pas avant)\b|>\s*\d|\b(?:{_NUMBER})\s*\+"),
    ("never", r"\b(?:some ?day|one day|un jour|no (?:timeline|timing|project|plans?|date|deadline)|"
              r"pas de (?:projet|timing|calendrier|date|delai)|aucun(?:e)? (?:projet|date|calendrier)|"
              r"not (?:now|yet|interested|a priority|this (?:week|month|quarter|half|year))|"
              r"pas (?:maintenant|pour le moment|prioritaire|encore|cette (?:annee|semaine)|ce (?:mois|trimestre|"
              r"semestre))|"
              r"unknown|inconnue?|tbd|tbc|a definir|non defini|jamais|never|n/a)\b"),
    ("bare", rf"\b(?P<bare_number>\d{{1,3}}(?:[.,]5)?)\s*-?\s*(?P<bare_unit>{_UNIT})\b"),
    ("asap", r"\b(?:asap|as soon as possible|immediately|immediate|urgent|urgently|right away|right now|"
             r"des que possible|au plus vite|immediatement|urgente?|tout de suite)\b"),
    ("end_next", r"\b(?:by |before |until |avant |d'ici )?(?:the )?end of next "
                 r"(?P<end_next_unit>month|quarter|year)\b"),
    ("end_this", r"\b(?:by |before |until )?(?:the )?end of (?:the |this )?(?P<end_this_unit>month|quarter|year)\b"
                 r"|\b(?:by )?(?P<year_end>year[- ]end|eoy|eoq)\b"
                 r"|\b(?:d'ici |avant )?(?:la )?fin (?:de l'|d'|du |de la )?"
                 r"(?P<fin_unit>annee|an|mois|trimestre|semestre)"
                 r"(?: en cours)?\b"),
    ("within_year", r"\b(?:within the (?:coming )?year|in the coming year|over the coming year|"
                    r"dans l'annee(?: qui vient| a venir)?(?! prochaine)|au cours de l'annee(?: qui vient| a venir)?"
                    r"(?! prochaine))\b"),
    ("this", r"\b(?:this|current|cette|ce) (?P<this_unit>week|month|quarter|half|year|semaine|mois|trimestre|semestre"
             r"|annee)\b"),
    ("next", r"\bnext (?P<next_unit>week|month|quarter|half|year)\b|\b(?:la |le |l')?(?P<prochain_unit>semaine|mois|"
             r"trimestre|semestre|annee|an) prochaine?\b"),
    ("quarter", rf"\b[qt](?P<quarter>[1-4])(?:\s*[-/']?\s*(?P<quarter_year>{_YEAR}|\d{{2}}))?\b"
                rf"|\b(?:au |le |the |in the )?(?P<quarter_ordinal>{_ORDINAL}) (?:quarter|trimestre)"
                rf"(?:\s+(?:of |de )?(?P<quarter_ordinal_year>{_YEAR}))?\b"),
    ("half", rf"\b[hs](?P<half>[12])(?:\s*[-/']?\s*(?P<half_year>{_YEAR}|\d{{2}}))?\b"
             rf"|\b(?:au |le |the |in the )?(?P<half_ordinal>first|second|1er|premier|2e|2eme|deuxieme|second) "
             rf"(?:half|semestre)(?:\s+(?:of |de )?(?P<half_ordinal_year>{_YEAR}))?\b"),
    ("year_part", rf"\b(?P<year_part>debut|early|beginning of|start of|mi|mid|milieu|middle of)[- ]?"
                  rf"(?:d'|de )?(?P<year_part_year>{_YEAR})\b"),
    ("month", rf"\b(?:by|in|before|until|end of|avant|en|d'ici|fin|jusqu'en|courant|debut|mi-?|for|pour)\s+"
              rf"(?P<month>{_MONTH})(?:\s+(?P<month_year>{_YEAR}))?\b"
              rf"|\b(?P<month_dated>{_MONTH})\s+(?P<month_dated_year>{_YEAR})\b"),
    ("season", rf"\b(?:by|in|before|this|next|avant|d'ici|cet|pour|en|au|a|des)\s+(?:la |l')?(?P<season>"
               rf"{'|'.join(_SEASONS)})(?:\s+(?P<season_year>{_YEAR}))?\b"),
    ("date", rf"\b(?P<iso_year>{_YEAR})-(?P<iso_month>\d{{2}})-(?P<iso_day>\d{{2}})\b"
             rf"|\b(?P<first>\d{{1,2}})/(?P<second>\d{{1,2}})/(?P<slash_year>{_YEAR})\b"),
    ("year", rf"\b(?P<year>{_YEAR})\b"),
)
# "no later than March", "au plus tard en mars": a deadline, read as "by" (and "plus tard" is not "later")
_DEADLINE = re.compile(r"\b(?:no later than|not later than|at the latest|at latest|au plus tard)\b")
_READER_PATTERN = "|".join(f"(?P<kind_{name}>{body})" for name, body in _PARTS)
# Every alternative starts at a word that appears literally in the pattern, a number, a quarter or half
# (q3, t3, h1, s2) or < >: trying the reader only at such words finds what `_reader().search` finds, without
# trying every alternative at every character of a long text. (A superset of words is harmless.)
_STARTERS = frozenset(re.findall(r"[a-z]+", _READER_PATTERN))
_TOKEN = re.compile(r"[a-z0-9]+|[<>]")


@cache
def _reader() -> re.Pattern[str]:
    """The one expression that reads a timing, compiled on first use: compiling it takes 15 to 30 ms, which
    `crmsync rules check` (that reads no timing) would otherwise pay on every run."""
    return re.compile(_READER_PATTERN)


def _find(text: str) -> re.Match[str] | None:
    """`_reader().search(text)`, trying the reader only where an alternative can start."""
    match_at = _reader().match
    for token in _TOKEN.finditer(text):
        word = token.group()
        first = word[0]
        if word in _STARTERS or first.isdigit() or first in "<>" or (first in "qths" and word[1:2].isdigit()):
            match = match_at(text, token.start())
            if match is not None:
                return match
    return None


class _Groups:
    """`match.group(name)` by subscript; reads only the groups asked for."""

    __slots__ = ("_match",)

    def __init__(self, match: re.Match[str]) -> None:
        self._match = match

    def __getitem__(self, name: str) -> Any:
        return self._match.group(name)


def _number(text: str) -> float:
    text = text.replace(",", ".")
    return float(text) if text[0].isdigit() else float(_WORDS[text])


def _duration(number: float, unit: str) -> Window:
    if unit.startswith(("day", "jour")):
        return ("days", number)
    if unit.startswith(("week", "semaine")):
        return ("days", number * 7)
    if unit.startswith(("quarter", "trimestre")):
        return ("months", number * 3)
    if unit.startswith(("year", "an")):
        return ("months", number * 12)
    return ("months", number)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    return int(text) if len(text) == 4 else 2000 + int(text)


def parse_window(text: str) -> Window | None:
    """The buying window a stated timing names, or None (no window, an open-ended one, or never)."""
    match = _find(_DEADLINE.sub(" by ", fold(text[:512])))
    if match is None:
        return None
    kind = match.lastgroup[len("kind_"):]  # the alternative's own group closes last
    groups = _Groups(match)
    if kind == "range":
        return _duration(max(_number(groups["range_low"]), _number(groups["range_high"])), groups["range_unit"])
    if kind == "bounded":
        return _duration(_number(groups["bounded_number"]), groups["bounded_unit"])
    if kind == "bounded_sign":
        return _duration(_number(groups["sign_number"]), groups["sign_unit"])
    if kind == "bare":
        return _duration(_number(groups["bare_number"]), groups["bare_unit"])
    if kind in ("open", "never"):
        return None
    if kind == "asap":
        return ("now",)
    if kind == "end_next":
        return ("calendar", groups["end_next_unit"], 1)
    if kind == "end_this":
        unit = groups["end_this_unit"] or groups["fin_unit"] or ("quarter" if groups["year_end"] == "eoq" else "year")
        return ("calendar", _CALENDAR_UNITS.get(unit, unit), 0)
    if kind == "within_year":
        return ("months", 12)
    if kind == "year_part":  # early 2027: its first quarter; mid-2027: its first half
        part = groups["year_part"]
        return ("quarter" if part in ("debut", "early", "beginning of", "start of") else "half", 1,
                int(groups["year_part_year"]))
    if kind == "this":
        return ("calendar", _CALENDAR_UNITS[groups["this_unit"]], 0)
    if kind == "next":
        return ("calendar", _CALENDAR_UNITS[groups["next_unit"] or groups["prochain_unit"]], 1)
    if kind == "quarter":
        if groups["quarter"]:
            return ("quarter", int(groups["quarter"]), _year(groups["quarter_year"]))
        return ("quarter", _ORDINALS[groups["quarter_ordinal"]], _year(groups["quarter_ordinal_year"]))
    if kind == "half":
        if groups["half"]:
            return ("half", int(groups["half"]), _year(groups["half_year"]))
        return ("half", _ORDINALS[groups["half_ordinal"]], _year(groups["half_ordinal_year"]))
    if kind == "month":
        name = groups["month"] or groups["month_dated"]
        return ("month", _MONTHS[name], _year(groups["month_year"] or groups["month_dated_year"]))
    if kind == "season":
        return ("month", _SEASONS[groups["season"]], _year(groups["season_year"]))
    if kind == "date":
        return _date(groups)
    return ("year", int(groups["year"]))


def _date(groups: _Groups) -> Window | None:
    try:
        if groups["iso_year"]:
            day = date(int(groups["iso_year"]), int(groups["iso_month"]), int(groups["iso_day"]))
        else:
            first, second = int(groups["first"]), int(groups["second"])
            day_of_month, month = (second, first) if second > 12 else (first, second)  # day first, as in Europe
            day = date(int(groups["slash_year"]), month, day_of_month)
    except ValueError:
        return None
    return ("date", day)


def add_months(moment: datetime, months: float) -> datetime:
    """`moment` plus calendar months (a half month is 15 days); the day is clamped to the month's length."""
    whole = int(months)
    total = moment.month - 1 + whole
    year, month = moment.year + total // 12, total % 12 + 1
    result = moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))
    if months != whole:
        result = datetime.fromtimestamp(result.timestamp() + (months - whole) * 30 * 86_400, UTC)
    return result


def _month_end(year: int, month: int) -> datetime:
    return datetime(year, month, monthrange(year, month)[1], 23, 59, 59, tzinfo=UTC)


def _next_end(now: datetime, month: int, year: int | None) -> datetime:
    """The end of `month` of `year`, or, without a year, of its next occurrence that has not ended."""
    if year is not None:
        return _month_end(year, month)
    end = _month_end(now.year, month)
    return end if end >= now else _month_end(now.year + 1, month)


def window_end(window: Window, now: datetime) -> datetime:
    """When the window closes, seen at `now` (UTC)."""
    kind = window[0]
    if kind == "now":
        return now
    if kind == "days":
        return datetime.fromtimestamp(now.timestamp() + window[1] * 86_400, UTC)
    if kind == "months":
        return add_months(now, window[1])
    if kind == "calendar":
        unit, ahead = window[1], window[2]
        if unit == "week":
            return datetime.fromtimestamp(now.timestamp() + (6 - now.weekday() + 7 * ahead) * 86_400, UTC)
        size = {"month": 1, "quarter": 3, "half": 6, "year": 12}[unit]
        first = (now.month - 1) // size * size + 1  # first month of the current unit
        return _month_end(*_shift(now.year, first + size * (ahead + 1) - 1))
    if kind in ("quarter", "half"):
        size = 3 if kind == "quarter" else 6
        return _next_end(now, window[1] * size, window[2])
    if kind == "month":
        return _next_end(now, window[1], window[2])
    if kind == "date":
        return datetime(window[1].year, window[1].month, window[1].day, 23, 59, 59, tzinfo=UTC)
    return _month_end(window[1], 12)  # a year


def _shift(year: int, month: int) -> tuple[int, int]:
    """(year, month) for a month number that may run past December."""
    return year + (month - 1) // 12, (month - 1) % 12 + 1


def within_horizon(window: Window | None, now: datetime, horizon_months: float) -> bool:
    """Whether the window closes between `now` and `horizon_months` from now."""
    if window is None:
        return False
    try:
        end = window_end(window, now)
    except (ValueError, OverflowError):  # a year beyond what datetime holds
        return False
    return now <= end <= add_months(now, horizon_months)


def value_window(value: Any) -> Window | None:
    """The window a field value names: text is read as above; a date or datetime is that day."""
    if isinstance(value, str):
        return parse_window(value) if value.strip() else None
    if isinstance(value, datetime):
        return ("date", value.date())
    if isinstance(value, date):
        return ("date", value)
    if isinstance(value, (list, tuple)):  # a multi-select: the first item that names a window
        for item in value:
            window = value_window(item)
            if window is not None:
                return window
    return None


__all__ = ["Window", "add_months", "parse_window", "value_window", "window_end", "within_horizon"]
