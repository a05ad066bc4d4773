"""API efficiency of the Salesforce connector against its sandbox: calls per object for a full pull of n people,
a push of one changed field for all of them, a push where nothing changed, and a pull where nothing changed,
each next to the API's floor.

Floors (REST API Developer Guide, "Query Options Header" and "sObject Collections"): a SOQL page holds at
most 2,000 records, so reading R records of an object takes at least ceil(R / 2000) calls (R counted from
what the sandbox served: the rows the pull needed); a collection update holds at most 200 records, so
pushing N updates takes at least ceil(N / 200) calls. A pull where nothing changed reads no record, and its
floor is one call per object it must ask (Lead, Contact and the four related objects' changes).

Run: `python benchmarks/api_salesforce.py [n]` (default 10,000).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from sync.clock import FrozenClock
from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts

from connectors.salesforce import SalesforceConnector
from connectors.sandbox.salesforce import SalesforceSandbox

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
OBJECTS = ("Lead", "Contact", "Task", "Event", "CampaignMember", "OpportunityContactRole")
PAGE = 2000


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
        served = len(sandbox.rest.served)
        started = time.perf_counter()
        pages = list(connector.pull(None))
        pulled = sum(len(page.contacts) for page in pages)
        pull_s = time.perf_counter() - started
        pull = _delta(connector.api_calls, before)
        object_calls, object_rows = sandbox.rest.served_by_object(served)

        clock.advance(timedelta(minutes=5))  # a cycle later, nothing changed
        served = len(sandbox.rest.served)
        quiet_pages = list(connector.pull(pages[-1].cursor))
        quiet_calls, quiet_rows = sandbox.rest.served_by_object(served)

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

    pull_floor = math.ceil(leads / PAGE) + math.ceil(contacts / PAGE)
    push_floor = math.ceil(n / 200)
    per_object = {
        sobject: {"calls": object_calls[sobject], "rows": object_rows[sobject],
                  "floor": max(1, math.ceil(object_rows[sobject] / PAGE))}
        for sobject in OBJECTS
    }
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
        "per_object": per_object,
        "unchanged_pull": {"calls": dict(quiet_calls), "rows": dict(quiet_rows),
                           "contacts": sum(len(page.contacts) for page in quiet_pages)},
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
    print(f"Salesforce connector, n={n} ({result['leads']} leads, {result['contacts']} contacts)")
    print(f"{'full pull, per object':<28}{'rows':>8}{'calls':>8}{'floor':>8}{'x':>8}")
    for sobject, figures in result["per_object"].items():
        print(f"{sobject:<28}{figures['rows']:>8}{figures['calls']:>8}{figures['floor']:>8}"
              f"{figures['calls'] / figures['floor']:>8.2f}")
    print(f"{'push, one field changed':<28}{n:>8}{result['push_calls_total']:>8}{result['push_floor']:>8}"
          f"{result['push_ratio']:>8.2f}")
    print(f"{'push, nothing changed':<28}{0:>8}{result['noop_push_calls']:>8}{0:>8}")
    quiet = result["unchanged_pull"]
    print(f"pull with nothing changed: {sum(quiet['calls'].values())} calls {quiet['calls']}, "
          f"{sum(quiet['rows'].values())} records read, {quiet['contacts']} contacts emitted")
    print(f"setup and auth of the full pull: { {k: v for k, v in result['pull_calls'].items() if k in ('setup', 'auth')} }"
          f"; wall time {result['seconds']}")


if __name__ == "__main__":
    main()
