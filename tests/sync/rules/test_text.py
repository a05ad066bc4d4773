"""Text compared without case or accents, in French as in English; seniority read from titles."""

from __future__ import annotations

import pytest

from sync.rules import load_rules
from sync.rules.text import fold, fold_pattern


@pytest.mark.parametrize(("text", "folded"), [
    ("Étudiante", "etudiante"),
    ("Directeur des systèmes d’information", "directeur des systemes d'information"),
    ("GÉRANTE", "gerante"),
    ("Straße", "strasse"),
    ("Œuvre – Cœur", "oeuvre - coeur"),
    ("Zoë Müller", "zoe muller"),
    ("IT\u00a0Director", "it director"),
    ("東京", "東京"),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_pattern_keeps_escapes() -> None:
    assert fold_pattern(r"\bÉTUDIANT\b|\D+|\p{Greek}|[Éé]") == r"\betudiant\b|\D+|\p{Greek}|[ee]"


@pytest.mark.parametrize(("title", "level"), [
    ("Directeur des systèmes d'information", "c_level"),
    ("DSI", "c_level"),
    ("DSI adjoint", "director"),
    ("RSSI", "director"),
    ("Responsable informatique", "manager"),
    ("Gérante", "c_level"),
    ("PDG", "c_level"),
    ("DAF", "c_level"),
    ("Directrice commerciale", "director"),
    ("Head of Security", "director"),
    ("VP Engineering", "director"),
    ("Chief Information Security Officer", "c_level"),
    ("Managing Director", "c_level"),
    ("Chef de projet SI", "manager"),
    ("Ingénieure cloud", "individual"),
    ("Étudiante en cybersécurité", "student"),
    ("Stagiaire chef de projet", "student"),
    ("Product Owner", "individual"),  # the owner of a product, not of the company
    ("Owner", "c_level"),
    ("Propriétaire", "c_level"),
    ("", None),
])
def test_the_shipped_rules_read_seniority_from_titles(title: str, level: str | None) -> None:
    levels = load_rules(None).history.title_levels
    assert levels is not None
    assert levels(title) == level
