"""The native-value reads a push makes, per CRM, for one cycle of N fresh contacts run by the engine as the
daemon runs it (field setup, pull, decide, push, health check): with the engine passing each pulled
contact's `crm_values` to its push (now) and without (as before: every push batch read the values again),
plus an outbox replay after a crash, where the values are unknown and must be read.

    python benchmarks/engine_reads.py [N] [--json]      # N contacts per CRM, default 1,000
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

from sync.clock import FrozenClock
from sync.daemon import problem_records
from sync.log import configure_logging
from sync.testing import SimulatedCrash
from sync.testing.sandbox_runs import crash_after_first_page, sandbox_run

CRMS = ("hubspot", "salesforce", "pipedrive")
NOW = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


@contextmanager
def _without_crm_values() -> Iterator[None]:
    """The engine as it was: pushes carried no values from the pull."""
    with mock.patch.object(problem_records, "known_crm_values", lambda page: {}):
        yield


def _cycle(crm: str, contacts: int, folder: Path, name: str) -> dict[str, int]:
    clock = FrozenClock(NOW)
    run = sandbox_run(crm, contacts, db=f"sqlite:///{folder / name}.db", clock=clock)
    try:
        summary = run.cycle()
        return {"native_reads": run.native_reads(), "calls": sum(summary.api_calls.values()),
                "requests": run.requests(), "pushed": summary.pushed}
    finally:
        run.close()


def _replay(crm: str, contacts: int, folder: Path) -> dict[str, int]:
    clock = FrozenClock(NOW)
    db = f"sqlite:///{folder / 'replay'}.db"
    run = sandbox_run(crm, contacts, db=db, clock=clock, fault=crash_after_first_page())
    try:
        try:
            run.cycle()
        except SimulatedCrash:
            pass
        run.restart_store(db, clock)
        before, sent = run.native_reads(), run.requests()
        summary = run.cycle()
        return {"native_reads": run.native_reads() - before, "calls": sum(summary.api_calls.values()),
                "requests": run.requests() - sent, "pushed": summary.pushed}
    finally:
        run.close()


def measure(contacts: int) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="crmsync-engine-reads-") as folder:
        root = Path(folder)
        for crm in CRMS:
            with _without_crm_values():
                before = _cycle(crm, contacts, root, f"{crm}-before")
            after = _cycle(crm, contacts, root, f"{crm}-after")
            out[crm] = {"before": before, "after": after, "replay": _replay(crm, contacts, root)}
    return out


def _table(result: dict[str, dict[str, dict[str, int]]], contacts: int) -> str:
    lines = [f"one cycle of {contacts:,} fresh contacts per CRM (field setup, pull, push, health check)",
             f"{'crm':<11}{'reads before':>13}{'reads now':>11}{'calls before':>14}{'calls now':>11}"
             f"{'replay reads':>14}"]
    for crm, phases in result.items():
        lines.append(f"{crm:<11}{phases['before']['native_reads']:>13}{phases['after']['native_reads']:>11}"
                     f"{phases['before']['calls']:>14}{phases['after']['calls']:>11}"
                     f"{phases['replay']['native_reads']:>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contacts", nargs="?", type=int, default=1_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(level="ERROR")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the sandboxes' access log
    result = measure(args.contacts)
    print(json.dumps(result, indent=2) if args.json else _table(result, args.contacts))


if __name__ == "__main__":
    main()
