"""Values people type in any CRM read as the same neutral word, a company's own table first."""

import pytest

from sync.model import Seniority
from sync.toolkit.vocabulary import TYPED_SENIORITY, folded, recurring_flag, seniority_level


@pytest.mark.parametrize(("raw", "level"), [
    ("VP", "director"), ("Vice President", "director"), ("vice-president", "director"), (" C-Level ", "c_level"),
    ("Directrice", "director"), ("Stagiaire", "student"), ("c_level", "c_level"), ("MANAGER", "manager"),
])
def test_typed_seniority_reads_as_a_neutral_level(raw, level):
    assert seniority_level(raw) == level


def test_a_company_table_wins_and_an_unknown_value_is_kept_as_typed():
    mine = folded({"Vice President": "c_level", "Lead Dev": "individual"})
    assert seniority_level("vice president", mine) == "c_level"
    assert seniority_level("LEAD DEV", mine) == "individual"
    assert seniority_level("Wizard ", mine) == "Wizard"
    assert seniority_level("   ") is None and seniority_level(None) is None


def test_every_typed_value_names_a_neutral_level():
    assert set(TYPED_SENIORITY.values()) <= set(Seniority)


@pytest.mark.parametrize(("raw", "flag"), [
    ("Yes", True), ("Subscription", True), ("abonnement", True), ("One-off", False), ("one off", False),
    ("Projet", False), ("maybe", None), ("", None), (None, None),
])
def test_recurring_words(raw, flag):
    assert recurring_flag(raw) is flag


def test_a_company_recurring_word_wins_over_the_common_ones():
    assert recurring_flag("Annual", folded({"annual": False})) is False
