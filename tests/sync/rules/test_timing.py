"""Buying windows read from stated timings, in English and French, against a 12-month horizon."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.rules import timing
from sync.rules.text import fold
from sync.rules.timing import parse_window, value_window, within_horizon

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # November: "next year" ends 14 months away

CREDIBLE = [
    "within 6 months", "Within 12 months", "within a year", "in the next 3 months", "over the next 6 months",
    "6 months", "6-month", "3-6 months", "< 3 months", "less than 3 months", "ASAP, budget approved",
    "immediately", "this quarter", "this year", "next quarter", "end of next quarter", "later this year", "Q3",
    "q4", "Q3-27", "T3 2027", "H1 2027", "first half of 2027", "third quarter", "by March",
    "no later than March 2027", "2027-03-31", "31/03/2027", "courant 2026", "dans 3 mois", "D’ici 6 mois",
    "d'ici six mois", "Projet prévu dans huit mois", "sous 4 semaines", "moins de 3 mois", "entre 3 et 6 mois",
    "le trimestre prochain", "la semaine prochaine", "ce mois-ci", "cette année", "fin d'année",
    "d'ici la fin de l'année", "au 3e trimestre", "S1 2027", "avant l'été", "au plus tard en mars",
    "Budget cycle starts Q3", "début 2027", "early 2027", "mi-2027", "dans l'année", "within the year",
    "au cours de l'année", "à la rentrée", "pour la rentrée", "d'ici un an",
]
NOT_CREDIBLE = [
    "within 36 months", "within 13 months", "18 months", "within 2 years", "12+ months", "> 12 months",
    "more than 6 months", "not before 2028", "next year", "l'année prochaine", "en 2027", "H2 2027",
    "2e semestre 2027", "Q1 2026", "some day", "Un jour peut-être", "no timeline", "no timeline, maybe Q3",
    "pas de projet", "TBD", "soon", "we may buy", "ISO 27001 audit", "", "   ", "été", "not this year",
    "pas cette année", "not this quarter", "début 2028", "dans l'année prochaine",
]


@pytest.mark.parametrize("text", CREDIBLE)
def test_windows_closing_within_the_horizon_are_credible(text: str) -> None:
    assert within_horizon(parse_window(text), NOW, 12), parse_window(text)


@pytest.mark.parametrize("text", NOT_CREDIBLE)
def test_no_window_or_one_beyond_the_horizon_is_not(text: str) -> None:
    assert not within_horizon(parse_window(text), NOW, 12), parse_window(text)


def test_the_horizon_is_the_rules_choice() -> None:
    assert within_horizon(parse_window("within 36 months"), NOW, 36)
    assert within_horizon(parse_window("next year"), NOW, 24)
    assert not within_horizon(parse_window("within 6 months"), NOW, 3)


def test_a_quarter_without_a_year_is_its_next_occurrence() -> None:
    q3 = parse_window("Q3")
    assert timing.window_end(q3, NOW) == datetime(2027, 9, 30, 23, 59, 59, tzinfo=timezone.utc)
    assert timing.window_end(parse_window("Q4"), NOW) == datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert timing.window_end(parse_window("next quarter"), NOW) == datetime(2027, 3, 31, 23, 59, 59,
                                                                            tzinfo=timezone.utc)


def test_dates_name_their_day() -> None:
    assert value_window(date(2027, 1, 15)) == ("date", date(2027, 1, 15))
    assert within_horizon(value_window(datetime(2027, 1, 15, tzinfo=timezone.utc)), NOW, 12)
    assert not within_horizon(value_window(date(2026, 1, 15)), NOW, 12)  # already past
    assert value_window(["", "Q1 2027"]) == ("quarter", 1, 2027)  # a multi-select: the first that names one
    assert value_window(12) is None and value_window(None) is None


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_the_reader_finds_what_a_plain_search_finds(text: str) -> None:
    """Only trying the reader where an alternative can start must not change its answer."""
    folded = timing._DEADLINE.sub(" by ", fold(text))
    plain = timing._reader().search(folded)
    fast = timing._find(folded)
    assert (plain and (plain.start(), plain.lastgroup)) == (fast and (fast.start(), fast.lastgroup))


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(["within", "dans", "6", "six", "months", "mois", "Q3", "T1", "2027", "next",
                                       "year", "quarter", "no", "timeline", "d'ici", "fin", "de", "l'annee", "-",
                                       "to", "a", "entre", "et", "12+", ">", "<", "asap", "janvier", "by"]),
                      max_size=8))
def test_any_phrase_gives_a_window_or_none_never_an_error(words: list[str]) -> None:
    text = " ".join(words)
    window = parse_window(text)
    assert window is None or isinstance(within_horizon(window, NOW, 12), bool)
    assert re.sub(r"\s+", " ", text) == text  # the phrase is what was read


@settings(max_examples=300, deadline=None)
@given(months=st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0, 6.0, 11.5, 12.0, 12.5, 13.0, 18.0, 24.0, 36.0, 999.0,
                               11988.0]),
       horizon=st.integers(min_value=1, max_value=36),
       now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)))
def test_a_duration_is_within_the_horizon_at_every_instant_or_at_none(months: float, horizon: int,
                                                                       now: datetime) -> None:
    """The engine answers "within N months" without the calendar (the same at every instant it replays)."""
    assert within_horizon(("months", months), now, horizon) is (months <= horizon)
