"""Replicas: the wall time of one full cycle of nine accounts (three sets of the three sandbox CRMs) synced by
three `crmsync run` replicas on one PostgreSQL store, against the same cycle synced by one replica.

    python benchmarks/replicas.py                          # 200 contacts per account, documented limits on
    python benchmarks/replicas.py --contacts 50 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

Each configuration gets fresh sandboxes (running in this process, with their documented rate limits on unless
`--no-limits`) and a fresh PostgreSQL schema. The cycle's wall time is read from the store, not from process
start-up: from the first account's first cycle starting to the last account's first clean cycle finishing.
Each account's cycle is paced by its own CRM's API budget, so the time should be about the same with one or
three replicas: replicas are there for failover and rolling deploys, not speed (one replica already syncs
several accounts at once). Also reported: how the accounts were spread, and writes received twice (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sync.clock import SystemClock
from sync.daemon.report import RunOutcome
from sync.testing import POSTGRES_URL_ENV, SandboxCrms, postgres_schema
from sync.testing.replicas import Fleet, owners, wait_for

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def first_cycle_wall(fleet: Fleet) -> float:
    """From the earliest first-cycle start to the latest first clean cycle's end, over every account."""
    starts, ends = [], []
    with fleet.store() as store:
        for ref in fleet.accounts:
            cycles = sorted((r for r in store.runs(ref, limit=1000) if r.kind == "cycle"), key=lambda r: r.started_at)
            clean = next(r for r in cycles if r.outcome is RunOutcome.OK)
            starts.append(cycles[0].started_at)
            assert clean.finished_at is not None
            ends.append(clean.finished_at)
    return (max(ends) - min(starts)).total_seconds()


def measure(replicas: int, *, groups: int, contacts: int, limits: bool, base_url: str, interval: str) -> dict[str, Any]:
    with ExitStack() as stack:
        crms = [stack.enter_context(SandboxCrms(contacts=contacts, clock=SystemClock(), enforce_limits=limits,
                                                tag="" if index == 0 else str(index + 1)))
                for index in range(groups)]
        url = stack.enter_context(postgres_schema(base_url))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crmsync-replicas-")))
        fleet = Fleet(crms, workdir, state_url=url, interval=interval, lease="15s")
        names = [f"r{n + 1}" for n in range(replicas)]
        try:
            began = time.monotonic()
            for name in names:
                fleet.start(name)
            wait_for(fleet.synced, timeout=3600, every=1.0, failure=fleet.logs_text)
            until_synced = time.monotonic() - began
            spread = owners(fleet.leases().values())
            codes = [fleet.stop(name, timeout=120) for name in names]
        finally:
            fleet.close()
        pushes = fleet.pushes()
        return {"replicas": replicas, "accounts": len(fleet.accounts), "contacts_per_account": contacts,
                "limits": limits, "cycle_wall_s": round(first_cycle_wall(fleet), 2),
                "start_to_synced_s": round(until_synced, 2), "spread": dict(sorted(spread.items(), key=str)),
                "contacts_written": len(pushes), "written_twice": sum(1 for count in pushes.values() if count > 1),
                "audit_duplicates": len(fleet.audit_duplicates()), "exit_codes": codes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200, help="contacts per account (each sandbox)")
    parser.add_argument("--groups", type=int, default=3, help="sets of the three sandbox CRMs (accounts / 3)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--no-limits", dest="limits", action="store_false", help="sandboxes without rate limits")
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES)
    parser.add_argument("--interval", default="1h", help="account interval: one cycle is measured")
    args = parser.parse_args()
    results = [measure(count, groups=args.groups, contacts=args.contacts, limits=args.limits,
                       base_url=args.postgres, interval=args.interval) for count in (1, args.replicas)]
    one, many = results
    print(f"{'replicas':>8} {'accounts':>8} {'cycle wall s':>12} {'start->synced s':>15} {'written':>8} "
          f"{'twice':>6}  spread")
    for result in results:
        print(f"{result['replicas']:>8} {result['accounts']:>8} {result['cycle_wall_s']:>12} "
              f"{result['start_to_synced_s']:>15} {result['contacts_written']:>8} {result['written_twice']:>6}  "
              f"{result['spread']}")
    print(f"ratio {args.replicas} replicas / 1 replica: {many['cycle_wall_s'] / one['cycle_wall_s']:.2f}")
    print(json.dumps({"benchmark": "replicas", "results": results}))
    bad = [r for r in results if r["written_twice"] or r["audit_duplicates"] or any(r["exit_codes"])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
