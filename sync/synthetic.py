"""Deterministic, realistic synthetic contacts.

One generator feeds the rules benchmark, the sandbox CRMs (each maps these
neutral contacts into its native objects) and the tests, so that a pull
through a connector can be compared field by field with what was seeded.
The same seed always gives the same people; contacts are yielded lazily so a
million of them never sit in memory at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage

FIRST_NAMES = ("Ada", "Léa", "Marc", "Sofia", "Yusuf", "Chloé", "Jan", "Aiko", "Omar", "Inès", "Paul", "Zoë",
               "Hugo", "Nadia", "Tomás", "Elif", "Karim", "Maja", "Noah", "Sven")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Nguyen", "Schmidt", "García", "Rossi", "Kowalski", "Okafor",
              "Yamamoto", "Haddad", "Lefèvre", "Müller", "Jensen", "Costa", "Moreau")
COMPANY_WORDS = ("Nord", "Azur", "Helio", "Quanta", "Vega", "Cobalt", "Orion", "Lumen", "Atlas", "Kappa",
                 "Delta", "Sigma", "Polar", "Terra", "Nova", "Pixel")
COMPANY_SUFFIX = ("SAS", "GmbH", "Ltd", "Inc", "SA", "BV", "AB", "Srl")
INDUSTRIES = ("software", "finance", "healthcare", "manufacturing", "retail", "education", "public_sector",
              "logistics", "energy", "consulting", "telecom", "insurance")
TITLES = (
    ("CISO", "c_level"), ("CTO", "c_level"), ("CIO", "c_level"), ("IT Director", "director"),
    ("Head of Security", "director"), ("IT Manager", "manager"), ("Security Engineer", "individual"),
    ("DevOps Engineer", "individual"), ("Procurement Manager", "manager"), ("Student", "student"),
    ("Independent Consultant", "individual"), ("Marketing Manager", "manager"), ("CEO", "c_level"),
)
COUNTRIES = ("FR", "DE", "GB", "US", "ES", "IT", "NL", "BE", "CH", "SE", "CA", "PL")
SOURCES = ("linkedin", "webinar", "trade_show", "website_form", "white_paper", "referral", "paid_search")
EVENT_TYPES = ("download", "webinar", "visit", "form", "email_open", "email_reply", "demo_request",
               "pricing_view", "meeting_booked", "trade_show")
EVENT_WEIGHTS = (20, 8, 40, 6, 25, 5, 2, 4, 2, 2)
NEEDS = ("", "", "", "strengthen security", "replace legacy SIEM", "compliance audit", "cloud migration")
TIMINGS = ("", "", "", "within 3 months", "within 6 months", "next year", "no timeline")
BUDGETS = ("", "", "provisional", "approved", "none")
ROLES = ("", "", "decision_maker", "co_decider", "champion", "influencer", "user")
FREE_MAIL = ("gmail.com", "yahoo.fr", "outlook.com")


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    email: str
    name: str


OWNERS = tuple(Owner(id=str(1000 + number), email=f"rep{number}@seller.example", name=f"Rep {number}")
               for number in range(8))


def _company(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_WORDS).lower()} {rng.choice(COMPANY_SUFFIX)}"


def _slug(text: str) -> str:
    return "".join(character for character in text.lower() if character.isascii() and character.isalnum())


def synthetic_contact(index: int, *, seed: int = 7, now: datetime, crm: str = "synthetic",
                      account: str = "default") -> Contact:
    """The `index`-th person of the population `seed`, as seen at `now`."""
    rng = random.Random(seed * 1_000_003 + index)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    title, seniority = rng.choice(TITLES)
    company = _company(rng)
    personal = seniority == "student" or rng.random() < 0.08
    domain = rng.choice(FREE_MAIL) if personal else f"{_slug(company.split()[0])}.example"
    email = f"{_slug(first)}.{_slug(last)}{index}@{domain}"
    created = now - timedelta(days=rng.uniform(1, 720))
    span = max((now - created).total_seconds(), 3600.0)

    def moment() -> datetime:
        return created + timedelta(seconds=rng.uniform(0, span))

    events = sorted(
        (EngagementEvent(type=event_type, at=moment(), source=rng.choice(SOURCES))
         for event_type in rng.choices(EVENT_TYPES, weights=EVENT_WEIGHTS, k=rng.randint(0, 30))),
        key=lambda event: event.at,
    )
    owner = rng.choice(OWNERS)
    activities = sorted(
        (Activity(
            kind=rng.choice(tuple(ActivityKind)),
            at=moment(),
            by=owner.id if rng.random() < 0.8 else None,
            direction=rng.choice(("outbound", "inbound")),
            done=rng.random() < 0.85,
            automated=rng.random() < 0.15,
            id=f"act-{index}-{number}",
            subject=rng.choice(("Discovery call", "Follow-up", "Intro email", "Demo", "Check-in", "QBR")),
        ) for number in range(rng.randint(0, 10))),
        key=lambda activity: activity.at,
    )
    deals = []
    for number in range(rng.choices((0, 1, 2, 3), weights=(60, 25, 10, 5))[0]):
        status = rng.choices(tuple(DealStatus), weights=(50, 30, 20))[0]
        recurring = rng.random() < 0.5
        opened = moment()
        deals.append(Deal(
            id=f"deal-{index}-{number}",
            status=status,
            stage=PipelineStage.CLOSING if status is not DealStatus.OPEN else rng.choice(tuple(PipelineStage)[:4]),
            amount=round(rng.uniform(1_000, 120_000), 2),
            currency="EUR",
            close_date=(opened + timedelta(days=rng.randint(10, 120))).date(),
            recurring=recurring,
            contract_months=rng.choice((12, 24, 36)) if recurring else None,
            created_at=opened,
            updated_at=opened,
        ))
    fields = {
        "need": rng.choice(NEEDS),
        "timing": rng.choice(TIMINGS),
        "budget": rng.choice(BUDGETS),
        "decision_role": rng.choice(ROLES),
        "phone": f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "city": rng.choice(("Paris", "Lyon", "Berlin", "London", "Madrid", "Milan", "Austin", "Toronto")),
        "website": f"https://{domain}",
        "annual_revenue": rng.randint(100_000, 500_000_000),
        "lead_source_detail": rng.choice(("cybersecurity guide", "SIEM webinar", "booth 42", "pricing page")),
        "newsletter": rng.random() < 0.4,
        "competitor": rng.random() < 0.02,
        "not_interested": rng.random() < 0.03,
    }
    return Contact(
        crm=crm,
        account=account,
        id=str(100_000 + index),
        email=email,
        owner_id=owner.id,
        first_name=first,
        last_name=last,
        company=None if personal else company,
        industry=rng.choice(INDUSTRIES),
        company_size=rng.choice((1, 5, 20, 50, 120, 250, 800, 2_000, 10_000)),
        job_title=title,
        seniority=seniority,
        country=rng.choice(COUNTRIES),
        source=rng.choice(SOURCES),
        created_at=created,
        updated_at=max([created, *(event.at for event in events), *(activity.at for activity in activities)]),
        fields=fields,
        events=events,
        activities=activities,
        deals=deals,
    )


def synthetic_contacts(count: int, *, seed: int = 7, now: datetime | None = None, crm: str = "synthetic",
                       account: str = "default", start: int = 0) -> Iterator[Contact]:
    """`count` people, lazily. `now` defaults to a fixed instant so runs are reproducible."""
    now = now or datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    for index in range(start, start + count):
        yield synthetic_contact(index, seed=seed, now=now, crm=crm, account=account)


__all__ = ["OWNERS", "Owner", "synthetic_contact", "synthetic_contacts"]
