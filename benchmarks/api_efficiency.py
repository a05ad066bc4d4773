"""API efficiency of the three connectors side by side: for a full pull of N contacts, a push of one changed
field for all of them, and a push where nothing changed, the calls each connector made next to its API's
floor (the fewest calls that API allows for the same work).

Each connector's own benchmark (`api_hubspot.py`, `api_salesforce.py`, `api_pipedrive.py`, written with the
connector) measures against its sandbox and returns its own report; this one runs them in turn and puts
their figures in one table. Reads of deals and activities depend on the data (how many each contact has),
so they are listed apart from the contact pull.

    python benchmarks/api_efficiency.py [N] [--json]      # N contacts per CRM, default 10,000
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

TARGET = 1.05  # a connector may make at most 5% more calls than its API's floor


@dataclass(frozen=True)
class Efficiency:
    """One connector's figures, whatever the shape of its benchmark's report."""

    crm: str
    contacts: int
    pull_calls: int
    pull_floor: int
    push_calls: int
    push_floor: int
    unchanged_push_calls: int
    related_reads: int  # deals, activities, associations... (data-dependent, no fixed floor)
    seconds: float

    @property
    def pull_ratio(self) -> float:
        return self.pull_calls / self.pull_floor if self.pull_floor else 0.0

    @property
    def push_ratio(self) -> float:
        return self.push_calls / self.push_floor if self.push_floor else 0.0

    @property
    def ok(self) -> bool:
        return self.pull_ratio <= TARGET and self.push_ratio <= TARGET and self.unchanged_push_calls == 0


def _hubspot(r: Mapping[str, Any], seconds: float) -> Efficiency:
    full, floors = r["phases"]["full pull"], r["floors"]["full pull"]
    contact_pull = full.get("contacts list", 0)
    return Efficiency("hubspot", r["contacts"], contact_pull, floors["contacts list"],
                      r["phases"]["push"].get("contacts batch update", 0), r["floors"]["push"]["contacts batch update"],
                      sum(r["phases"]["push unchanged"].values()), sum(full.values()) - contact_pull, seconds)


def _salesforce(r: Mapping[str, Any], seconds: float) -> Efficiency:
    return Efficiency("salesforce", r["n"], r["contact_pull_calls"], r["contact_pull_floor"], r["push_calls_total"],
                      r["push_floor"], r["noop_push_calls"], sum(r["related_read_calls"].values()), seconds)


def _pipedrive(r: Mapping[str, Any], seconds: float) -> Efficiency:
    phases = r["phases"]
    contact_pull = phases["full_pull"].get("contacts", 0)
    return Efficiency("pipedrive", r["n"], contact_pull, r["floor"]["contacts_pull"],
                      phases["push_changed"].get("push", 0), r["floor"]["push"],
                      sum(phases["push_unchanged"].values()), sum(phases["full_pull"].values()) - contact_pull,
                      seconds)


BENCHMARKS: dict[str, tuple[str, Callable[[Mapping[str, Any], float], Efficiency]]] = {
    "hubspot": ("api_hubspot", _hubspot),
    "salesforce": ("api_salesforce", _salesforce),
    "pipedrive": ("api_pipedrive", _pipedrive),
}


def measure(n: int = 10_000) -> list[Efficiency]:
    """Run each connector's benchmark with `n` contacts (modules imported from this directory)."""
    results = []
    for module_name, normalise in BENCHMARKS.values():
        module = importlib.import_module(module_name)
        started = time.perf_counter()
        report = module.measure(n)
        results.append(normalise(report, time.perf_counter() - started))
    return results


def table(results: list[Efficiency]) -> str:
    header = (f"{'CRM':11} {'contacts':>8} {'pull':>6} {'floor':>6} {'x':>6} {'push':>6} {'floor':>6} {'x':>6} "
              f"{'no-op push':>10} {'related reads':>13} {'seconds':>8}  target")
    lines = [header, "-" * len(header)]
    for e in results:
        lines.append(f"{e.crm:11} {e.contacts:>8} {e.pull_calls:>6} {e.pull_floor:>6} {e.pull_ratio:>6.3f} "
                     f"{e.push_calls:>6} {e.push_floor:>6} {e.push_ratio:>6.3f} {e.unchanged_push_calls:>10} "
                     f"{e.related_reads:>13} {e.seconds:>8.1f}  {'met' if e.ok else 'MISSED'}")
    lines.append(f"pull / push: contact pages and write calls; x: calls / floor (target <= {TARGET}); "
                 "no-op push: calls for a push where nothing changed (target 0)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contacts", nargs="?", type=int, default=10_000, help="contacts per CRM")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per sandbox request
    results = measure(args.contacts)
    if args.json:
        print(json.dumps([{**asdict(e), "pull_ratio": e.pull_ratio, "push_ratio": e.push_ratio, "ok": e.ok}
                          for e in results], indent=2))
    else:
        print(f"API efficiency, {args.contacts} contacts per CRM")
        print(table(results))
    return 0 if all(e.ok for e in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
