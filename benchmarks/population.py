"""A varied population for the rules benchmark: the texts real CRMs hold, not a dozen repeated strings.

`sync.synthetic` draws job titles, timings and needs from a dozen values each, so an engine that remembers
its answer per distinct text would look faster than it is on a real export. Here every contact starts from
`sync.synthetic.synthetic_contact` (its events, activities and deals at times spread over two years) and
gets a job title, a stated timing and a need built from parts in English and French: accents, curly
apostrophes, capitals, company names and places in the titles. Tens of thousands of distinct titles in
100,000 contacts; a third of the contacts have no seniority from the CRM (the title is then the only
evidence); some have a LinkedIn exchange, a pricing request or an accepted meeting.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import msgspec

from sync.model import Activity, ActivityKind, Contact, EngagementEvent
from sync.synthetic import COMPANY_SUFFIX, COMPANY_WORDS, synthetic_contact

C_LEVEL, DIRECTOR, MANAGER, INDIVIDUAL, STUDENT = "c_level", "director", "manager", "individual", "student"

FUNCTIONS_EN = ("IT", "Information Security", "Cybersecurity", "Security Operations", "Infrastructure", "Cloud",
                "DevOps", "Network", "Systems", "IT Operations", "Data Protection", "Risk & Compliance",
                "Platform", "Marketing", "Finance", "Sales", "HR", "Procurement", "Digital",
                "Application Security", "SOC", "Identity & Access", "Enterprise Architecture", "End-User Computing")
FUNCTIONS_FR = ("informatique", "sécurité", "cybersécurité", "systèmes et réseaux", "infrastructure",
                "des opérations", "cloud", "réseaux et télécoms", "sécurité informatique", "marketing", "achats",
                "financier", "commercial", "ressources humaines", "production", "transformation numérique", "SI",
                "conformité", "exploitation", "support utilisateurs")
TITLES_EN = (
    ("Chief Information Security Officer", C_LEVEL), ("Chief Information Officer", C_LEVEL),
    ("Chief Technology Officer", C_LEVEL), ("CISO", C_LEVEL), ("CIO", C_LEVEL), ("CTO", C_LEVEL),
    ("CEO", C_LEVEL), ("CFO", C_LEVEL), ("Co-founder & CEO", C_LEVEL), ("Managing Director", C_LEVEL),
    ("VP {f}", DIRECTOR), ("Vice President, {f}", DIRECTOR), ("Head of {f}", DIRECTOR),
    ("Director of {f}", DIRECTOR), ("{f} Director", DIRECTOR), ("Senior Director, {f}", DIRECTOR),
    ("{f} Manager", MANAGER), ("Senior {f} Manager", MANAGER), ("{f} Team Lead", MANAGER),
    ("Lead {f} Engineer", INDIVIDUAL), ("{f} Engineer", INDIVIDUAL), ("Senior {f} Engineer", INDIVIDUAL),
    ("{f} Analyst", INDIVIDUAL), ("{f} Architect", INDIVIDUAL), ("{f} Specialist", INDIVIDUAL),
    ("{f} Consultant", INDIVIDUAL), ("Independent {f} Consultant", INDIVIDUAL), ("{f} Administrator", INDIVIDUAL),
    ("{f} Intern", STUDENT), ("Student", STUDENT), ("MSc Student, {f}", STUDENT), ("Buyer", INDIVIDUAL),
)
TITLES_FR = (
    ("Directeur des systèmes d'information", C_LEVEL), ("Directrice des systèmes d’information", C_LEVEL),
    ("DSI", C_LEVEL), ("PDG", C_LEVEL), ("Président-directeur général", C_LEVEL), ("Directeur général", C_LEVEL),
    ("Directrice générale", C_LEVEL), ("Gérant", C_LEVEL), ("Gérante", C_LEVEL), ("DAF", C_LEVEL),
    ("Directeur administratif et financier", C_LEVEL), ("RSSI", DIRECTOR), ("DSI adjoint", DIRECTOR),
    ("Responsable de la sécurité des systèmes d'information", DIRECTOR), ("Directeur {f}", DIRECTOR),
    ("Directrice {f}", DIRECTOR), ("Directeur technique", DIRECTOR), ("Responsable {f}", MANAGER),
    ("Responsable informatique", MANAGER), ("Chef de projet {f}", MANAGER), ("Cheffe de service {f}", MANAGER),
    ("Ingénieur {f}", INDIVIDUAL), ("Ingénieure {f}", INDIVIDUAL), ("Technicien {f}", INDIVIDUAL),
    ("Technicienne {f}", INDIVIDUAL), ("Administrateur {f}", INDIVIDUAL), ("Consultant {f}", INDIVIDUAL),
    ("Consultante indépendante", INDIVIDUAL), ("Chargé de {f}", INDIVIDUAL), ("Chargée de {f}", INDIVIDUAL),
    ("Acheteuse", INDIVIDUAL), ("Étudiant", STUDENT), ("Étudiante en {f}", STUDENT), ("Stagiaire {f}", STUDENT),
    ("Alternant {f}", STUDENT),
)
PLACES = ("Paris", "Lyon", "Île-de-France", "Hauts-de-France", "Genève", "Zürich", "München", "Köln", "London",
          "Bruxelles", "Québec", "Montréal", "EMEA", "France", "Europe", "DACH", "Benelux", "Nord-Pas-de-Calais")
TIMINGS_EN = ("within {n} months", "in the next {n} months", "{n}-{m} months", "within {n} weeks", "Q{q}",
              "Q{q} {y}", "next quarter", "this quarter", "by end of {y}", "H{h} {y}", "within {n} years",
              "some day", "no timeline", "not before {y}", "ASAP, budget approved", "{n} to {m} months",
              "less than {n} months", "Budget cycle starts Q{q}")
TIMINGS_FR = ("dans {n} mois", "d'ici {n} mois", "d’ici {w} mois", "sous {n} semaines", "T{q} {y}",
              "le trimestre prochain", "d'ici la fin de l'année", "en {y}", "un jour peut-être", "pas de projet",
              "S{h} {y}", "courant {y}", "entre {n} et {m} mois", "au {q}e trimestre", "moins de {n} mois",
              "Projet prévu dans {w} mois")
NUMBER_WORDS_FR = ("un", "deux", "trois", "quatre", "cinq", "six", "huit", "neuf", "dix", "douze", "dix-huit")
NEEDS = ("", "", "", "", "renforcer la sécurité de {n} postes", "replace our legacy SIEM ({n} sources)",
         "audit de conformité NIS2", "cloud migration of {n} workloads", "SOC externalisé 24/7",
         "MFA for {n} users", "Remplacement de l'EDR avant {y}", "phishing simulations for {n} staff",
         "PCA/PRA à revoir", "zero trust roadmap")


def _company(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_WORDS).lower()} {rng.choice(COMPANY_SUFFIX)}"


def _title(rng: random.Random, french: bool) -> tuple[str, str]:
    pattern, level = rng.choice(TITLES_FR if french else TITLES_EN)
    title = pattern.format(f=rng.choice(FUNCTIONS_FR if french else FUNCTIONS_EN))
    roll = rng.random()
    if roll < 0.3:
        title += rng.choice((" – ", " - ", " | ", ", ", " @ ")) + _company(rng)
    elif roll < 0.55:
        separator = rng.choice((" ", " - ", " ("))
        title += separator + rng.choice(PLACES) + (")" if separator == " (" else "")
    roll = rng.random()
    if roll < 0.08:
        title = title.upper()
    elif roll < 0.16:
        title = title.lower()
    return title, level


def _filled(pattern: str, rng: random.Random) -> str:
    n = rng.randint(1, 48)
    return pattern.format(n=n, m=n + rng.randint(1, 12), q=rng.randint(1, 4), h=rng.randint(1, 2),
                          y=rng.randint(2026, 2029), w=rng.choice(NUMBER_WORDS_FR))


def varied_contact(index: int, *, now: datetime, seed: int = 11) -> Contact:
    """The `index`-th person of the benchmark's varied population."""
    base = synthetic_contact(index, now=now, seed=seed)
    rng = random.Random(seed * 7_919 + index)
    french = rng.random() < 0.45
    title, level = _title(rng, french)
    fields = dict(base.fields)
    fields["timing"] = _filled(rng.choice(TIMINGS_FR if french else TIMINGS_EN), rng) if rng.random() < 0.6 else ""
    fields["need"] = _filled(rng.choice(NEEDS), rng)
    events = list(base.events)
    created = base.created_at or now - timedelta(days=365)
    span = max((now - created).total_seconds(), 3600.0)
    for _ in range(rng.choice((0, 0, 0, 1, 2, 4))):
        events.append(EngagementEvent(type="social_message", source="linkedin",
                                      at=created + timedelta(seconds=rng.uniform(0, span))))
    if rng.random() < 0.05:
        events.append(EngagementEvent(type="pricing_request", source="website",
                                      at=created + timedelta(seconds=rng.uniform(0, span))))
    events.sort(key=lambda event: event.at)
    activities = list(base.activities)
    if rng.random() < 0.1:
        accepted = created + timedelta(seconds=rng.uniform(0, span))
        meeting = Activity(kind=ActivityKind.MEETING, at=accepted + timedelta(days=rng.uniform(1, 10)),
                           by=base.owner_id, done=False, subject="Discovery call", id=f"meeting-{index}",
                           accepted_at=accepted)
        activities = sorted([*activities, meeting], key=lambda activity: activity.at)
    return msgspec.structs.replace(
        base, job_title=title, seniority=level if rng.random() < 0.65 else None, fields=fields, events=events,
        activities=activities)


def varied_contacts(count: int, *, now: datetime, seed: int = 11) -> Iterator[Contact]:
    """`count` people of the varied population, lazily."""
    for index in range(count):
        yield varied_contact(index, now=now, seed=seed)


__all__ = ["varied_contact", "varied_contacts"]
