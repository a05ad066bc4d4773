"""API efficiency of the Salesforce connector against its sandbox: calls per category for a full pull of n
people, a push of one changed field for all of them, and a push where nothing changed, next to the API's
floor (REST API Developer Guide, "Query Options Header" and "sObject Collections": ceil(N/2000) SOQL calls per object for the pull, ceil(N/200) collection calls for the
push).

Related reads (tasks, events, campaign responses, opportunity roles) are listed apart: they are not part of
the contact-pull floor. Run: `python benchmarks/api_salesforce.py [n]`.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from sync.clock import FrozenClock
from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts

from connectors.salesforce import SalesforceConnector
from connectors.sandbox.salesforce import SalesforceSandbox

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def _delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in sorted(after) if after[k] - before[k]}


def measure(n: int = 10_000) -> dict[str, Any]:
    clock = FrozenClock(NOW)
    with SalesforceSandbox(clock=clock) as sandbox:
        started = time.perf_counter()
        ids = list(sandbox.seed(synthetic_contacts(n, now=NOW)).values())
        seed_s = time.perf_counter() - started
        connector = SalesforceConnector(
            sandbox.settings(), account="bench", clock=clock, sleep=lambda _s: None
        )
        connector.ensure_fields()
        leads = sum(1 for i in ids if i.startswith("00Q"))
        contacts = n - leads

        before = Counter(connector.api_calls)
        started = time.perf_counter()
        pulled = sum(len(page.contacts) for page in connector.pull(None))
        pull_s = time.perf_counter() - started
        pull = _delta(connector.api_calls, before)

        before = Counter(connector.api_calls)
        started = time.perf_counter()
        results = connector.push([FieldUpdate(i, {"score": k % 101}) for k, i in enumerate(ids)])
        push_s = time.perf_counter() - started
        push = _delta(connector.api_calls, before)

        before = Counter(connector.api_calls)
        connector.push([])  # the engine found nothing to write
        unchanged = connector.push([FieldUpdate(i, {}) for i in ids])  # or handed updates with no values
        noop = _delta(connector.api_calls, before)
        connector.close()

    pull_floor = math.ceil(leads / 2000) + math.ceil(contacts / 2000)
    push_floor = math.ceil(n / 200)
    related = {k: v for k, v in pull.items() if k not in ("contacts", "auth", "setup")}
    return {
        "n": n,
        "leads": leads,
        "contacts": contacts,
        "pulled": pulled,
        "pushed_ok": sum(r.ok for r in results),
        "pull_calls": pull,
        "push_calls": push,
        "noop_push_calls": sum(noop.values()),
        "contact_pull_calls": pull.get("contacts", 0),
        "contact_pull_floor": pull_floor,
        "contact_pull_ratio": pull.get("contacts", 0) / pull_floor,
        "related_read_calls": related,
        "push_calls_total": push.get("push", 0),
        "push_floor": push_floor,
        "push_ratio": push.get("push", 0) / push_floor,
        "per_1000": {
            "contact_pull": 1000 * pull.get("contacts", 0) / n,
            "related_reads": 1000 * sum(related.values()) / n,
            "push": 1000 * push.get("push", 0) / n,
        },
        "floor_per_1000": {"contact_pull": 1000 * pull_floor / n, "push": 1000 * push_floor / n},
        "unchanged_ok": sum(r.ok for r in unchanged),
        "seconds": {"seed": round(seed_s, 2), "pull": round(pull_s, 2), "push": round(push_s, 2)},
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    result = measure(n)
    rows = [
        (
            "contact pull (Lead + Contact SOQL pages)",
            result["contact_pull_calls"],
            result["contact_pull_floor"],
        ),
        ("push, one field changed for all", result["push_calls_total"], result["push_floor"]),
        ("push, nothing changed", result["noop_push_calls"], 0),
    ]
    print(f"Salesforce connector, n={n} ({result['leads']} leads, {result['contacts']} contacts)")
    print(f"{'operation':<44}{'calls':>8}{'floor':>8}{'per 1k':>9}{'floor/1k':>10}")
    for label, calls, floor in rows:
        print(f"{label:<44}{calls:>8}{floor:>8}{1000 * calls / n:>9.2f}{1000 * floor / n:>10.2f}")
    print(
        f"related reads, listed apart: {result['related_read_calls']} "
        f"({result['per_1000']['related_reads']:.1f} per 1k contacts)"
    )
    print(
        f"ratios: pull {result['contact_pull_ratio']:.2f} x floor, push {result['push_ratio']:.2f} x floor; "
        f"wall time {result['seconds']}"
    )


if __name__ == "__main__":
    main()
