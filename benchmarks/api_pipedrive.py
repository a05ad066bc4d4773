"""API efficiency of the Pipedrive connector against its sandbox.

Seeds n synthetic contacts, runs a full pull, a push of one changed field for all n, and a push where
nothing changed, and reports API calls per category, calls per 1,000 contacts and the API's floor
(Pipedrive "Pagination", 500 per v2 page: ⌈N/500⌉ calls to pull N persons, N calls to push N updates since Pipedrive has no
batch update). Time is simulated: the connector paces itself to the Lite burst window on a frozen clock
that its sleep moves, so the report also says how long the push would take on a real Lite account.

Run: `python benchmarks/api_pipedrive.py [n]`.
"""

from __future__ import annotations

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


def _measure(n: int, clock: FrozenClock, sleep: Any, waited: list[float]) -> dict[str, Any]:
    with PipedriveSandbox(clock=clock, daily_tokens=10**9) as sandbox:
        native = sandbox.seed(synthetic_contacts(n))
        connector = PipedriveConnector(sandbox.settings(daily_token_budget=10**9), clock=clock, sleep=sleep)
        connector.ensure_fields()
        phases: dict[str, dict[str, int]] = {"setup": dict(connector.api_calls)}

        before, started = Counter(connector.api_calls), time.perf_counter()
        pulled = sum(len(page.contacts) for page in connector.pull(None))
        phases["full_pull"] = _delta(connector.api_calls, before)
        pull_seconds = time.perf_counter() - started

        updates = [
            FieldUpdate(contact_id=pid, values={"score": 50 + i % 50})
            for i, pid in enumerate(native.values())
        ]
        before, waited_before = Counter(connector.api_calls), sum(waited)
        results = connector.push(updates)
        phases["push_changed"] = _delta(connector.api_calls, before)
        push_simulated_s = sum(waited) - waited_before

        unchanged = [
            FieldUpdate(contact_id=u.contact_id, values=u.values, previous=u.values) for u in updates
        ]
        before = Counter(connector.api_calls)
        connector.push(unchanged)
        connector.push([])
        phases["push_unchanged"] = _delta(connector.api_calls, before)
        connector.close()

    floor_pull, floor_push = math.ceil(n / 500), n
    pull_calls = phases["full_pull"].get("contacts", 0)
    push_calls = phases["push_changed"].get("push", 0)
    return {
        "n": n,
        "pulled": pulled,
        "pushed_ok": sum(r.ok for r in results),
        "phases": phases,
        "per_1000": {
            phase: {k: round(v * 1000 / n, 2) for k, v in calls.items()} for phase, calls in phases.items()
        },
        "floor": {"contacts_pull": floor_pull, "push": floor_push, "push_unchanged": 0},
        "ratio": {
            "contacts_pull": round(pull_calls / floor_pull, 3),
            "push": round(push_calls / floor_push, 3),
        },
        "push_seconds_at_lite_burst": round(push_simulated_s, 1),
        "pull_wall_seconds": round(pull_seconds, 2),
        "ok": pull_calls <= 1.05 * floor_pull
        and push_calls <= 1.05 * floor_push
        and not phases["push_unchanged"]
        and pulled == n,
    }


def _table(report: dict[str, Any]) -> str:
    n = report["n"]
    rows = [("phase", "category", "calls", "per 1,000", "floor")]
    floors = {("full_pull", "contacts"): report["floor"]["contacts_pull"], ("push_changed", "push"): n}
    for phase, calls in report["phases"].items():
        for category, value in calls.items():
            floor = floors.get((phase, category))
            rows.append(
                (
                    phase,
                    category,
                    str(value),
                    str(report["per_1000"][phase][category]),
                    "" if floor is None else str(floor),
                )
            )
    rows.append(("push_unchanged", "all", str(sum(report["phases"]["push_unchanged"].values())), "0", "0"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        f"contacts pull {report['ratio']['contacts_pull']} x floor, push {report['ratio']['push']} x floor; "
        f"push of {n} takes {report['push_seconds_at_lite_burst']} s at Lite burst (20 / 2 s); "
        f"target met: {report['ok']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(_table(measure(count)))
