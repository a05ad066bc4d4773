"""API efficiency of the Pipedrive connector against its sandbox, per object.

Seeds n synthetic contacts and runs, with the connector's own calls counted per category:
- setup (`ensure_fields`);
- a full pull: persons ⌈N/500⌉ (Pipedrive "Pagination", 500 per v2 page), and the account's deals,
  activities and organizations, each ⌈rows/500⌉ (listed once, joined locally), plus one stages read;
- an incremental pull where nothing changed (one call per object, no record read), and one where 1% of
  the persons changed;
- a push of one changed field for all n (floor N: Pipedrive has no batch update), a push where nothing
  changed (floor 0), and a push of the maturity (labels read once per 100 persons when the engine does
  not pass them; none when it does);
- the daily comparison of person ids that notices deletions and merges: ⌈P/500⌉ calls of 10 tokens.
Time is simulated: the connector paces itself to the Lite burst window on a frozen clock that its sleep
moves, so the report also says how long the push would take on a real Lite account.

Run: `python benchmarks/api_pipedrive.py [n]`.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.pipedrive import PipedriveConnector
from connectors.sandbox.pipedrive import PipedriveSandbox
from sync.clock import FrozenClock
from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts

START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
PAGE, IDS = 500, 100
OBJECTS = {"contacts": "/api/v2/persons", "deals": "/api/v2/deals", "activities": "/api/v2/activities",
           "associations": "/api/v2/organizations"}


def _delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in sorted(after) if after[key] - before[key]}


def measure(n: int = 10_000) -> dict[str, Any]:
    """Calls per phase and category, against the floor; `ok` says whether the targets are met."""
    clock = FrozenClock(START)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    server_log = logging.getLogger("werkzeug")  # one access-log line per call would drown the report
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    try:
        return _measure(n, clock, sleep, waited)
    finally:
        server_log.setLevel(level)


def _rows_answered(sandbox: PipedriveSandbox) -> dict[str, int]:
    """Records the sandbox answered since `record()`, per object (what "nothing changed" must keep at 0)."""
    rows: Counter[str] = Counter()
    for request, response in sandbox.exchanges:
        for category, path in OBJECTS.items():
            if request.path == path and request.method == "GET":
                rows[category] += len(json.loads(response.get_data()).get("data") or [])
    return {category: rows[category] for category in OBJECTS}


def _measure(n: int, clock: FrozenClock, sleep: Any, waited: list[float]) -> dict[str, Any]:
    with PipedriveSandbox(clock=clock, daily_tokens=10**9) as sandbox:
        native = list(sandbox.seed(synthetic_contacts(n)).values())
        clock.advance(timedelta(minutes=1))
        connector = PipedriveConnector(sandbox.settings(daily_token_budget=10**9), clock=clock, sleep=sleep)
        connector.use_managed_ids(lambda: iter(sorted(native)))  # what the engine offers before each pull
        connector.ensure_fields()
        phases: dict[str, dict[str, int]] = {"setup": dict(connector.api_calls)}
        counts = {"contacts": len(sandbox.store.persons), "deals": len(sandbox.store.deals),
                  "activities": len(sandbox.store.activities), "associations": len(sandbox.store.orgs)}

        before, started = Counter(connector.api_calls), time.perf_counter()
        pages = list(connector.pull(None))
        pulled = sum(len(page.contacts) for page in pages)
        phases["full_pull"] = _delta(connector.api_calls, before)
        pull_seconds = time.perf_counter() - started

        clock.advance(timedelta(minutes=5))
        sandbox.record()
        before = Counter(connector.api_calls)
        pages = list(connector.pull(pages[-1].cursor))
        phases["nothing_changed"] = _delta(connector.api_calls, before)
        unchanged_rows = _rows_answered(sandbox)
        sandbox.record(False)

        changed = native[: max(n // 100, 1)]
        clock.advance(timedelta(minutes=5))
        for person in changed:
            sandbox.set_field(person, "need", "renewed interest")
        clock.advance(timedelta(minutes=1))
        before = Counter(connector.api_calls)
        pages = list(connector.pull(pages[-1].cursor))
        phases["incremental_1pct"] = _delta(connector.api_calls, before)
        crm_values = {c.id: c.crm_values for page in pages for c in page.contacts}

        updates = [FieldUpdate(contact_id=pid, values={"score": 50 + i % 50}) for i, pid in enumerate(native)]
        before, waited_before = Counter(connector.api_calls), sum(waited)
        results = connector.push(updates)
        phases["push_changed"] = _delta(connector.api_calls, before)
        push_simulated_s = sum(waited) - waited_before

        unchanged = [FieldUpdate(contact_id=u.contact_id, values=u.values, previous=u.values) for u in updates]
        before = Counter(connector.api_calls)
        connector.push(unchanged)
        connector.push([])
        phases["push_unchanged"] = _delta(connector.api_calls, before)

        maturity = [FieldUpdate(contact_id=pid, values={"maturity": "warm"}) for pid in changed]
        before = Counter(connector.api_calls)
        connector.push(maturity)
        phases["push_maturity"] = _delta(connector.api_calls, before)
        known = [FieldUpdate(contact_id=pid, values={"maturity": "hot"}, previous={"maturity": "warm"},
                             crm_values=crm_values.get(pid, {})) for pid in changed]
        before = Counter(connector.api_calls)
        connector.push(known)
        phases["push_maturity_known_labels"] = _delta(connector.api_calls, before)

        clock.advance(timedelta(hours=25))  # the daily comparison of person ids falls due
        before = Counter(connector.api_calls)
        list(connector.pull(pages[-1].cursor))
        phases["daily_with_comparison"] = _delta(connector.api_calls, before)
        connector.close()

    floor = {category: math.ceil(count / PAGE) for category, count in counts.items()}
    floor_push, changed_n = n, len(changed)
    objects = {
        "full pull: persons": (phases["full_pull"].get("contacts", 0), floor["contacts"]),
        "full pull: deals": (phases["full_pull"].get("deals", 0), floor["deals"]),
        "full pull: activities": (phases["full_pull"].get("activities", 0), floor["activities"]),
        "full pull: organizations": (phases["full_pull"].get("associations", 0), floor["associations"]),
        "full pull: stages and deal fields": (phases["full_pull"].get("setup", 0), 1),
        "nothing changed: persons": (phases["nothing_changed"].get("contacts", 0), 1),
        "nothing changed: deals": (phases["nothing_changed"].get("deals", 0), 1),
        "nothing changed: activities": (phases["nothing_changed"].get("activities", 0), 1),
        f"{changed_n} changed: persons": (phases["incremental_1pct"].get("contacts", 0), math.ceil(changed_n / PAGE)),
        "push": (phases["push_changed"].get("push", 0), floor_push),
        "push, nothing changed": (sum(phases["push_unchanged"].values()), 0),
        f"push maturity x{changed_n}: label reads": (phases["push_maturity"].get("contacts", 0),
                                                     math.ceil(changed_n / IDS)),
        f"push maturity x{changed_n}, labels known": (phases["push_maturity_known_labels"].get("contacts", 0), 0),
        "daily id comparison": (phases["daily_with_comparison"].get("reconcile", 0), floor["contacts"]),
    }
    pull_calls, push_calls = objects["full pull: persons"][0], objects["push"][0]
    return {
        "n": n,
        "pulled": pulled,
        "pushed_ok": sum(r.ok for r in results),
        "phases": phases,
        "objects": {name: {"calls": calls, "floor": floor_} for name, (calls, floor_) in objects.items()},
        "rows_read_when_nothing_changed": unchanged_rows,
        "comparison_tokens": objects["daily id comparison"][0] * 10,
        "per_1000": {
            phase: {k: round(v * 1000 / n, 2) for k, v in calls.items()} for phase, calls in phases.items()
        },
        "floor": {"contacts_pull": floor["contacts"], "push": floor_push, "push_unchanged": 0},
        "ratio": {
            "contacts_pull": round(pull_calls / floor["contacts"], 3),
            "push": round(push_calls / floor_push, 3),
        },
        "push_seconds_at_lite_burst": round(push_simulated_s, 1),
        "pull_wall_seconds": round(pull_seconds, 2),
        "ok": pull_calls <= 1.05 * floor["contacts"]
        and push_calls <= 1.05 * floor_push
        and not phases["push_unchanged"]
        and not any(unchanged_rows.values())
        and pulled == n,
    }


def _table(report: dict[str, Any]) -> str:
    rows = [("object", "calls", "floor", "x")]
    for name, figures in report["objects"].items():
        calls, floor = figures["calls"], figures["floor"]
        rows.append((name, str(calls), str(floor), f"{calls / floor:.2f}" if floor else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"setup (ensure_fields): {report['phases']['setup']}")
    lines.append(f"records read when nothing changed: {report['rows_read_when_nothing_changed']}")
    lines.append(f"daily id comparison: {report['comparison_tokens']} tokens")
    lines.append(
        f"persons pull {report['ratio']['contacts_pull']} x floor, push {report['ratio']['push']} x floor; "
        f"push of {report['n']} takes {report['push_seconds_at_lite_burst']} s at Lite burst (20 / 2 s); "
        f"target met: {report['ok']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(_table(measure(count)))
