"""API efficiency of the HubSpot connector against its sandbox: calls per category for a full pull, a push
of one changed field for every contact, and a push with nothing changed, next to HubSpot's floor.

Floors (HubSpot "CRM API | Contacts": 100 per list page, 100 per batch): a full scan lists ⌈N/100⌉ pages (associations inline); deals and each
engagement type cost ⌈ids/100⌉ batch reads; a push costs ⌈N/100⌉ batch updates; nothing changed costs 0.
Target: at most 1.05 × the floor for contact pull and push. Run: `python benchmarks/api_hubspot.py [N]`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.clock import FrozenClock
from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts


def measure(n: int = 10_000) -> dict[str, Any]:
    """Seed `n` contacts, pull them all, push one changed field for each, then push nothing new."""
    clock = FrozenClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # virtual time: pacing is counted, not slept
        waited.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    with HubSpotSandbox(clock=clock) as sandbox:
        originals = list(synthetic_contacts(n))
        sandbox.seed(originals)
        connector = HubSpotConnector(sandbox.settings(), clock=clock, sleep=sleep)
        connector.ensure_fields()
        setup_calls = connector.api_calls["setup"]
        connector.api_calls.clear()
        started = time.perf_counter()
        contacts = [c for page in connector.pull(None) for c in page.contacts]
        pull_seconds = time.perf_counter() - started
        pulled = dict(connector.api_calls)
        deal_ids = sum(len(c.deals) for c in contacts)
        activity_ids = {k: sum(1 for c in contacts for a in c.activities if a.kind == k)
                        for k in ("call", "email", "meeting", "note", "task")}
        connector.api_calls.clear()
        updates = [FieldUpdate(c.id, {"score": 50 + i % 50}) for i, c in enumerate(contacts)]
        started = time.perf_counter()
        results = connector.push(updates)
        push_seconds = time.perf_counter() - started
        pushed = connector.api_calls["push"]
        connector.api_calls.clear()
        again = connector.push([FieldUpdate(u.contact_id, u.values, previous=dict(u.values)) for u in updates])
        unchanged = sum(connector.api_calls.values())
        connector.close()
    assert len(contacts) == n and all(r.ok for r in results + again)
    floor_pull = math.ceil(n / 100)
    floor_push = math.ceil(n / 100)
    floor_reads = math.ceil(deal_ids / 100) + sum(math.ceil(v / 100) for v in activity_ids.values())
    contact_pull = pulled.get("contacts", 0) - 1  # less the archived sweep, which is not part of the scan
    return {
        "contacts": n,
        "calls": {"pull": pulled, "push": pushed, "push_unchanged": unchanged, "setup_once": setup_calls},
        "per_1000": {"contact_pull": 1000 * contact_pull / n, "push": 1000 * pushed / n,
                     "all_pull": 1000 * sum(pulled.values()) / n},
        "floor": {"contact_pull": floor_pull, "push": floor_push, "deal_and_activity_reads": floor_reads},
        "ratio": {"contact_pull": contact_pull / floor_pull, "push": pushed / floor_push,
                  "deal_and_activity_reads": (pulled.get("deals", 0) - 1 + pulled.get("activities", 0)) / floor_reads},
        "seconds": {"pull": round(pull_seconds, 2), "push": round(push_seconds, 2),
                    "paced_virtual": round(sum(waited), 1)},
    }


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's per-request access log
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    result = measure(n)
    calls, floor, ratio = result["calls"], result["floor"], result["ratio"]
    rows = [
        ("contact pull (list, 100/page)", calls["pull"].get("contacts", 0) - 1, floor["contact_pull"],
         ratio["contact_pull"]),
        ("deal + engagement batch reads", calls["pull"].get("deals", 0) - 1 + calls["pull"].get("activities", 0),
         floor["deal_and_activity_reads"], ratio["deal_and_activity_reads"]),
        ("push one field (batch/update)", calls["push"], floor["push"], ratio["push"]),
        ("push, nothing changed", calls["push_unchanged"], 0, 0.0),
    ]
    print(f"HubSpot connector, {n} contacts")
    print(f"{'operation':34} {'calls':>7} {'floor':>7} {'x floor':>8}")
    for name, used, least, times in rows:
        print(f"{name:34} {used:>7} {least:>7} {times:>8.3f}")
    print(f"archived sweep: 1 call; pipelines: 1 call; property schema: 1 call; ensure_fields once: "
          f"{calls['setup_once']} calls")
    print(f"per 1,000 contacts: pull {result['per_1000']['contact_pull']:.1f} contact calls "
          f"({result['per_1000']['all_pull']:.1f} in all), push {result['per_1000']['push']:.1f}")
    print(f"wall time: pull {result['seconds']['pull']} s, push {result['seconds']['push']} s; "
          f"pacing at 100 calls/10 s would wait {result['seconds']['paced_virtual']} s")


if __name__ == "__main__":
    main()
