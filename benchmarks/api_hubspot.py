"""API efficiency of the HubSpot connector against its sandbox, per object: every request the sandbox
received, sorted by the object it read or wrote, next to that object's floor (the fewest calls HubSpot's
API allows for the same work).

Phases, on one seeded account of N contacts:

- `setup`: `ensure_fields` on a fresh account (group, properties);
- `full pull`: every contact with its deals and engagements;
- `nothing changed`: an incremental pull right after the full one (it must read zero records);
- `changes`: an incremental pull after `k` contacts were edited, `k` deals won and `k` calls logged on
  other contacts (neither touching the contact record, as HubSpot allows);
- `push`: one changed field for every contact; `push stage`: a stage change for every contact, whose
  native lifecycle stage crmsync must read first (it is unknown to a push before a pull in the same run),
  and, where HubSpot holds a stage crmsync did not write, who set it (its history);
- `push unchanged`: values already in the CRM (zero calls).

Floors (HubSpot "CRM API | Contacts", "CRM API | Search", "Associations v4"): a list page holds 100
contacts with their associations inline, a search page 200, a batch read or update 100 inputs, a v4
association batch read 1,000 inputs; every searched object costs at least one search even when nothing
changed. Run: `python benchmarks/api_hubspot.py [N] [--changes K]`.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.clock import FrozenClock
from sync.contract import FieldUpdate
from sync.model import Activity, ActivityKind, Deal, DealStatus
from sync.synthetic import synthetic_contacts

OBJECT_PATH = re.compile(r"^/crm/v3/objects/(?P<object>[a-z_]+)(?:/(?P<verb>search|batch/read|batch/update))?$")
#: lifecycle stages a push to `prospect` from `lead` decides on without their history: unset, what crmsync
#: wrote (or its finer grade), and the target (or its finer grade)
LIFECYCLE_UNDOUBTED = (None, "", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity")
ASSOCIATION_PATH = re.compile(r"^/crm/v4/associations/(?P<source>[a-z_]+)/(?P<target>[a-z_]+)/batch/read$")


def object_of(method: str, path: str) -> str:
    """The object a request read or wrote, as the table names it."""
    if match := ASSOCIATION_PATH.match(path):
        return f"associations {match['source']}->{match['target']}"
    if match := OBJECT_PATH.match(path):
        verb = {"search": "search", "batch/read": "batch read", "batch/update": "batch update", None: "list"}
        return f"{match['object']} {verb[match['verb']]}"
    if path.startswith("/crm/v3/properties"):
        return "properties"
    if path.startswith("/crm/v3/pipelines"):
        return "pipelines"
    return f"{method} {path}"


def tally(requests: Iterable[Any]) -> Counter[str]:
    return Counter(object_of(request.method, request.path) for request in requests)


def pages(count: int, size: int) -> int:
    return math.ceil(count / size) if count else 0


class Account:
    """One seeded sandbox and a connector on virtual time, phase by phase."""

    def __init__(self, n: int) -> None:
        self.clock = FrozenClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
        self.waited = 0.0
        self.sandbox = HubSpotSandbox(clock=self.clock).start()
        self.ids = self.sandbox.seed(synthetic_contacts(n))
        self.connector = HubSpotConnector(self.sandbox.settings(), clock=self.clock, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:  # pacing is counted, not slept
        self.waited += seconds
        self.clock.advance(timedelta(seconds=seconds))

    def phase(self, run: Any) -> tuple[Counter[str], Any, float]:
        self.sandbox.requests.clear()
        started = time.perf_counter()
        result = run()
        return tally(self.sandbox.requests.all()), result, time.perf_counter() - started

    def close(self) -> None:
        self.connector.close()
        self.sandbox.stop()


def measure(n: int = 10_000, changes: int = 100) -> dict[str, Any]:
    account = Account(n)
    connector, sandbox, clock = account.connector, account.sandbox, account.clock
    try:
        report: dict[str, Any] = {"contacts": n, "changes": changes, "phases": {}, "floors": {}, "seconds": {}}

        def record(name: str, calls: Counter[str], floors: Mapping[str, int], seconds: float) -> None:
            report["phases"][name] = dict(calls)
            report["floors"][name] = dict(floors)
            report["seconds"][name] = round(seconds, 2)

        calls, _, seconds = account.phase(connector.ensure_fields)
        record("setup", calls, {"properties": 4}, seconds)  # groups read + create, properties read + batch create

        calls, full, seconds = account.phase(lambda: list(connector.pull(None)))
        contacts = [c for p in full for c in p.contacts]
        cursor = full[-1].cursor
        deals = {d.id for c in contacts for d in c.deals}
        per_kind = Counter(a.kind.value for c in contacts for a in c.activities)
        kinds = {"call": "calls", "email": "emails", "meeting": "meetings", "note": "notes", "task": "tasks"}
        full_floor = {"contacts list": pages(n, 100) + 1,  # + the archived sweep
                      "deals batch read": pages(len(deals), 100), "pipelines": 1}
        full_floor.update({f"{kinds[kind]} batch read": pages(count, 100) for kind, count in per_kind.items()
                           if kind in kinds})
        record("full pull", calls, full_floor, seconds)

        clock.advance(timedelta(minutes=5))
        calls, quiet, seconds = account.phase(lambda: list(connector.pull(cursor)))
        cursor = quiet[-1].cursor
        emitted = sum(len(p.contacts) for p in quiet)
        searched = ("contacts", "deals", *connector.settings.engagement_types)
        record("nothing changed", calls, {f"{obj} search": 1 for obj in searched}, seconds)
        report["nothing_changed_records"] = emitted

        natives = list(account.ids.values())
        edited, won, called = natives[:changes], natives[changes:2 * changes], natives[2 * changes:3 * changes]
        clock.advance(timedelta(minutes=5))
        for native in edited:
            sandbox.set_field(native, "timing", "within 3 months")
        for index, native in enumerate(won):
            sandbox.upsert_deal(native, Deal(id=f"bench-won-{index}", status=DealStatus.WON, amount=9_000.0,
                                             currency="EUR", created_at=clock.now(), updated_at=clock.now()))
        for index, native in enumerate(called):
            sandbox.log_activity(native, Activity(kind=ActivityKind.CALL, at=clock.now(), by="1001",
                                                  direction="outbound", id=f"bench-call-{index}", subject="Call"))
        clock.advance(timedelta(minutes=5))
        calls, changed, seconds = account.phase(lambda: list(connector.pull(cursor)))
        seen = {c.id for p in changed for c in p.contacts}
        report["changes_emitted"] = {"edited": len(seen & set(edited)), "deal won": len(seen & set(won)),
                                     "call logged": len(seen & set(called))}
        record("changes", calls, changes_floor(connector.settings.engagement_types, changed, edited, won, called),
               seconds)

        updates = [FieldUpdate(c.id, {"score": 50 + i % 50}) for i, c in enumerate(contacts)]
        calls, results, seconds = account.phase(lambda: connector.push(updates))
        record("push", calls, {"contacts batch update": pages(n, 100)}, seconds)
        report["push_failed"] = sum(1 for r in results if not r.ok)

        staged = [FieldUpdate(c.id, {"stage": "prospect"}, previous={"stage": "lead"}) for c in contacts]
        # the lifecycle stage must be read (unknown to a push before a pull: 100 a read); where HubSpot holds
        # a later stage than crmsync wrote ("lead") that is not the target's finer grade (opportunity), who
        # set it must be read too (its history: 50 a read), per batch of 100
        held = [sandbox.native(c.id).get("lifecyclestage") for c in contacts]
        doubted = [sum(1 for stage in held[offset:offset + 100] if stage not in LIFECYCLE_UNDOUBTED)
                   for offset in range(0, n, 100)]
        calls, results, seconds = account.phase(lambda: connector.push(staged))
        record("push stage", calls, {"contacts batch update": pages(n, 100),
                                     "contacts batch read": pages(n, 100) + sum(pages(d, 50) for d in doubted)},
               seconds)
        report["push_stage_failed"] = sum(1 for r in results if not r.ok)

        again = [FieldUpdate(u.contact_id, u.values, previous=dict(u.values)) for u in updates]
        calls, _, seconds = account.phase(lambda: connector.push(again))
        record("push unchanged", calls, {}, seconds)
        report["paced_virtual_s"] = round(account.waited, 1)
        return report
    finally:
        account.close()


def changes_floor(engagement_types: Iterable[str], changed: list[Any], edited: list[str], won: list[str],
                  called: list[str]) -> dict[str, int]:
    """The fewest calls that find the three kinds of change and re-emit each contact with its whole history:
    one search per object (a page of 200), the changed deals and calls mapped to their contacts (1,000 a
    call), the contacts not changed themselves read (100 a call), then every emitted contact's deals and
    engagements: one association read per type for 1,000 contacts, their records 100 a batch read."""
    emitted = [c for p in changed for c in p.contacts]
    floor = {"contacts search": max(1, pages(len(edited), 200)), "deals search": max(1, pages(len(won), 200)),
             "associations deals->contacts": pages(len(won), 1000),
             "associations calls->contacts": pages(len(called), 1000),
             "contacts batch read": pages(len(won) + len(called), 100)}
    for engagement in engagement_types:
        floor[f"{engagement} search"] = max(1, pages(len(called) if engagement == "calls" else 0, 200))
    kinds = {"call": "calls", "email": "emails", "meeting": "meetings", "note": "notes", "task": "tasks",
             "communication": "communications"}
    for target in ("deals", *engagement_types):
        floor[f"associations contacts->{target}"] = pages(len(emitted), 1000)
    floor["deals batch read"] = pages(len({d.id for c in emitted for d in c.deals}), 100)
    per_type = Counter(kinds.get(a.kind.value, a.kind.value) for c in emitted for a in c.activities)
    for engagement, count in per_type.items():
        floor[f"{engagement} batch read"] = pages(count, 100)
    return floor


def table(report: Mapping[str, Any]) -> str:
    lines = [f"HubSpot connector, {report['contacts']} contacts ({report['changes']} of each change)",
             f"{'phase':16} {'object':34} {'calls':>6} {'floor':>6} {'x floor':>8}"]
    for phase, calls in report["phases"].items():
        floors = report["floors"][phase]
        for obj in sorted(set(calls) | set(floors)):
            used, least = calls.get(obj, 0), floors.get(obj)
            ratio = f"{used / least:8.3f}" if least else ("       -" if least is None else "    zero" if not used
                                                          else "  excess")
            lines.append(f"{phase:16} {obj:34} {used:>6} {'' if least is None else least:>6} {ratio}")
        total = sum(calls.values())
        lines.append(f"{phase:16} {'(all)':34} {total:>6} {sum(floors.values()):>6}   {report['seconds'][phase]} s")
    lines.append(f"nothing changed emitted {report['nothing_changed_records']} contacts; changes emitted "
                 f"{report['changes_emitted']}")
    lines.append("floor blank: not a floor of its own (schema caches, enrichment of what changed)")
    return "\n".join(lines)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's per-request access log
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contacts", nargs="?", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100, help="contacts edited, deals won, calls logged")
    args = parser.parse_args()
    print(table(measure(args.contacts, args.changes)))


if __name__ == "__main__":
    main()
