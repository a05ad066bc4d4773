"""The values people type into any CRM for what crmsync reads as neutral words: seniority levels and the
recurring flag of a deal. Each connector's mapping module has the table of its own CRM's values and the
settings a company adds; what is left after those is looked up here, so "VP" typed in a Salesforce
picklist, a HubSpot property or a Pipedrive field reads the same.

Keys compare folded: no case, spaces and hyphens read as "_" ("Vice President", "vice-president" and
"vice_president" are one key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sync.model import Seniority

_SEPARATORS = re.compile(r"[\s\-_]+")

#: seniority as people type it -> the neutral level
TYPED_SENIORITY: dict[str, Seniority] = {
    "c_level": Seniority.C_LEVEL, "c_suite": Seniority.C_LEVEL, "cxo": Seniority.C_LEVEL,
    "chief": Seniority.C_LEVEL, "executive": Seniority.C_LEVEL, "owner": Seniority.C_LEVEL,
    "founder": Seniority.C_LEVEL, "partner": Seniority.C_LEVEL, "president": Seniority.C_LEVEL,
    "dirigeant": Seniority.C_LEVEL, "direction_generale": Seniority.C_LEVEL,
    "vp": Seniority.DIRECTOR, "svp": Seniority.DIRECTOR, "evp": Seniority.DIRECTOR,
    "vice_president": Seniority.DIRECTOR, "head": Seniority.DIRECTOR, "director": Seniority.DIRECTOR,
    "directeur": Seniority.DIRECTOR, "directrice": Seniority.DIRECTOR, "direction": Seniority.DIRECTOR,
    "manager": Seniority.MANAGER, "responsable": Seniority.MANAGER, "team_lead": Seniority.MANAGER,
    "senior": Seniority.INDIVIDUAL, "entry": Seniority.INDIVIDUAL, "employee": Seniority.INDIVIDUAL,
    "individual": Seniority.INDIVIDUAL, "individual_contributor": Seniority.INDIVIDUAL,
    "staff": Seniority.INDIVIDUAL, "collaborateur": Seniority.INDIVIDUAL,
    "student": Seniority.STUDENT, "intern": Seniority.STUDENT, "training": Seniority.STUDENT,
    "etudiant": Seniority.STUDENT, "stagiaire": Seniority.STUDENT, "alternant": Seniority.STUDENT,
}
#: a deal's recurring flag as people type it (a yes/no, a kind of deal) -> recurring (True) or one-off (False)
TYPED_RECURRING: dict[str, bool] = {
    "true": True, "yes": True, "oui": True, "recurring": True, "recurrent": True, "subscription": True,
    "abonnement": True, "renewal": True, "renouvellement": True, "annual": True, "monthly": True,
    "false": False, "no": False, "non": False, "one_off": False, "one_time": False, "onetime": False,
    "non_recurring": False, "project": False, "projet": False, "ponctuel": False,
}


def vocabulary_key(raw: str) -> str:
    return _SEPARATORS.sub("_", raw.strip().casefold()).strip("_")


def folded(table: Mapping[str, Any]) -> dict[str, Any]:
    """A table (a setting's, a CRM's) keyed as lookups key their values."""
    return {vocabulary_key(key): value for key, value in table.items()}


def _looked_up(raw: str, tables: tuple[Mapping[str, Any], ...]) -> tuple[str, Any]:
    """(the folded key, the value of the first table holding it, else None)."""
    key = vocabulary_key(raw)
    return key, next((table[key] for table in tables if key in table), None)


def seniority_level(raw: str | None, *tables: Mapping[str, str]) -> str | None:
    """The neutral level of a seniority value: the first of `tables` (folded keys: a company's setting, then
    its CRM's own values) that knows it, else `TYPED_SENIORITY`; a neutral level stays one; anything else
    is kept as typed (the rules may still name it)."""
    if raw is None or not raw.strip():
        return None
    key, level = _looked_up(raw, (*tables, TYPED_SENIORITY))
    if level is not None:
        return str(level)
    return key if key in Seniority._value2member_map_ else raw.strip()


def recurring_flag(raw: str | None, *tables: Mapping[str, bool]) -> bool | None:
    """Recurring (True), one-off (False) or unknown (None) from a word: the first of `tables` (folded keys)
    that knows it, else `TYPED_RECURRING`."""
    if raw is None or not raw.strip():
        return None
    flag = _looked_up(raw, (*tables, TYPED_RECURRING))[1]
    return None if flag is None else bool(flag)


__all__ = ["TYPED_RECURRING", "TYPED_SENIORITY", "folded", "recurring_flag", "seniority_level",
           "vocabulary_key"]
