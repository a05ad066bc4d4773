"""The state store at scale: what the daemon's own store operations cost at 100,000 and 1,000,000 contacts, on
SQLite and on PostgreSQL, so each can be seen to grow (time linear at most, memory flat).

    python benchmarks/state_store.py                                   # 100,000 and 1,000,000, both backends
    python benchmarks/state_store.py --sizes 100000 --backends sqlite  # one size, one backend
    CRMSYNC_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/bench python benchmarks/state_store.py

What it measures, each in a fresh process (peak RSS is that process's maximum resident set, from `wait4`):
1. seed: one account of N contacts written straight into the tables (a bulk insert, not N syncs): snapshots
   and rule memories of 1,000 synthetic people decided by the shipped rules, repeated under N distinct ids,
   with their SLA timers and the last pushed value of every field (so the store is what N synced contacts
   leave behind). 1% of them are due for review;
2. idle cycle: `run_cycle` against a CRM with no change: push the (empty) outbox, pull nothing, look for
   contacts decided by other rules (none), count the open breaches, record the run;
3. SLA sweep: `run_sweep`: the 1% due for review decided again and their changes pushed;
4. rescore after a rules change: every contact is marked as decided by another rules version (what a rules
   edit leaves), then `run_cycle` decides all N again from their snapshots, 500 at a time, and pushes the one
   field that changed for each (the rules version crmsync writes): N decisions, N outbox rows, N pushes.
The CRM is a stand-in that accepts every write at once, so the figures are the store's and the rules', not
an API's. PostgreSQL runs in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CRM, ACCOUNT = "bench", "main"
TEMPLATES = 1_000
OPERATIONS = ("idle_cycle", "sla_sweep", "rescore_all")


class AcceptingCrm:
    """A connector whose CRM has no change to report and accepts every write: only the store and the rules
    cost anything."""

    crm, account = CRM, ACCOUNT
    batch_size = 100

    def __init__(self) -> None:
        self.api_calls: Counter[str] = Counter()

    def pull(self, cursor: str | None) -> Iterator[Any]:
        self.api_calls["contacts"] += 1
        return iter(())

    def push(self, updates: Sequence[Any]) -> list[Any]:
        from sync.contract import PushResult

        self.api_calls["push"] += 1
        return [PushResult(update.contact_id, True) for update in updates]

    def health(self) -> Any:
        from sync.contract import Health

        return Health(True, True)

    def close(self) -> None:
        return None


def _rules() -> Any:
    from sync import registry

    return registry.rules_loader()(None)


def _templates(rules: Any) -> list[tuple[Any, Any]]:
    from sync.synthetic import synthetic_contacts

    people = list(synthetic_contacts(TEMPLATES, now=NOW, crm=CRM, account=ACCOUNT))
    return list(zip(people, rules.evaluate_many(people, NOW, {}), strict=True))


def _rows(size: int, templates: list[tuple[Any, Any]], run_id: str) -> Iterator[tuple[dict[str, Any], dict[str, Any],
                                                                                        list[dict[str, Any]]]]:
    """(contact row, SLA timer row, pushed rows) of each of `size` contacts, naive UTC datetimes."""
    import msgspec

    from sync.model import encode
    from sync.state.values import encode_value

    def naive(value: datetime | None) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None

    now = naive(NOW)
    for index in range(size):
        person, decision = templates[index % len(templates)]
        contact_id = f"c{index:09d}"
        contact = msgspec.structs.replace(person, id=contact_id)
        review = NOW - timedelta(minutes=1) if index % 100 == 0 else NOW + timedelta(days=1)
        yield ({"crm": CRM, "account": ACCOUNT, "contact_id": contact_id, "snapshot": encode(contact).decode(),
                "memory": encode(decision.memory).decode(), "crm_updated_at": naive(contact.updated_at),
                "stage": decision.stage.value, "score": decision.score,
                "maturity": decision.maturity.value if decision.maturity else None,
                "client_kind": decision.client_kind.value if decision.client_kind else None,
                "rules_version": decision.rules_version, "sla_status": decision.sla.status.value,
                "sla_due_at": naive(decision.sla.due_at), "next_review_at": naive(review), "decided_at": now,
                "seen_at": now, "tombstoned_at": None, "merged_into": None},
               {"crm": CRM, "account": ACCOUNT, "contact_id": contact_id, "status": decision.sla.status.value,
                "started_at": naive(decision.sla.started_at), "due_at": naive(decision.sla.due_at),
                "touched_at": naive(decision.sla.touched_at), "touched_by": decision.sla.touched_by,
                "updated_at": now},
               [{"crm": CRM, "account": ACCOUNT, "contact_id": contact_id, "field": name,
                 "value": encode_value(value), "pushed_at": now, "run_id": run_id}
                for name, value in decision.to_fields().items()])


def _bulk_insert(store: Any, tables: Sequence[Any], rows: Iterator[tuple[Any, ...]], *, chunk: int = 20_000) -> None:
    """Straight into the tables: COPY on PostgreSQL, one executemany per chunk on SQLite."""
    names = [[column.name for column in table.__table__.columns] for table in tables]
    buffers: list[list[dict[str, Any]]] = [[] for _ in tables]

    def flush(raw: Any) -> None:
        for table, columns, buffer in zip(tables, names, buffers, strict=True):
            if not buffer:
                continue
            if store.engine.dialect.name == "postgresql":
                with raw.cursor() as cursor, cursor.copy(
                        f"COPY {table.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in buffer:
                        copy.write_row([row[c] for c in columns])
            else:
                marks = ", ".join("?" for _ in columns)
                raw.executemany(f"INSERT INTO {table.__tablename__} ({', '.join(columns)}) VALUES ({marks})",
                                [[_sqlite_value(row[c]) for c in columns] for row in buffer])
            buffer.clear()

    with store.engine.begin() as conn:
        raw = conn.connection.driver_connection
        count = 0
        for contact, timer, pushed in rows:
            buffers[0].append(contact)
            buffers[1].append(timer)
            buffers[2].extend(pushed)
            count += 1
            if count % chunk == 0:
                flush(raw)
        flush(raw)


def _sqlite_value(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def seed(url: str, size: int) -> dict[str, Any]:
    from sync.clock import FrozenClock
    from sync.state import StateStore
    from sync.state.tables import ContactRow, PushedRow, SlaTimerRow

    rules = _rules()
    started = time.perf_counter()
    with StateStore(url, clock=FrozenClock(NOW)) as store:
        _bulk_insert(store, (ContactRow, SlaTimerRow, PushedRow), _rows(size, _templates(rules), "seed"))
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
    return {"seconds": time.perf_counter() - started}


def operate(url: str, operation: str) -> dict[str, Any]:
    from sync.clock import FrozenClock
    from sync.daemon.cycle import run_cycle
    from sync.daemon.engine import RunOptions
    from sync.daemon.sweep import run_sweep
    from sync.state import StateStore
    from sync.state.tables import ContactRow, PushedRow
    from sync.state.values import encode_value

    rules = _rules()
    clock = FrozenClock(NOW + timedelta(minutes=5))
    with StateStore(url, clock=clock) as store:
        if operation == "rescore_all":  # a rules edit: every contact was decided by other rules
            with store.engine.begin() as conn:  # and the CRM shows the rules version crmsync wrote then
                conn.execute(ContactRow.__table__.update().values(rules_version="before-the-edit"))
                conn.execute(PushedRow.__table__.update().where(PushedRow.field == "rules_version")
                             .values(value=encode_value("before-the-edit")))
        connector = AcceptingCrm()
        started = time.perf_counter()
        if operation == "sla_sweep":
            summary = run_sweep(store=store, connector=connector, rules=lambda: rules, clock=clock,
                                stop=threading.Event(), options=RunOptions())
        else:
            summary = run_cycle(store=store, connector=connector, rules=lambda: rules, clock=clock,
                                stop=threading.Event(), options=RunOptions())
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "outcome": summary.outcome.value, "decided": summary.decided,
            "pushed": summary.pushed, "errors": summary.errors[:3]}


def _child(args: list[str]) -> tuple[dict[str, Any], float]:
    """Run this script in a child process; its JSON answer and its peak RSS in MiB."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(args)}: the child failed (status {status})")
    return json.loads(output.splitlines()[-1]), usage.ru_maxrss / 1024  # logs may precede it


def _postgres_schema(base: str) -> Iterator[str]:
    import sqlalchemy

    schema = f"crmsync_bench_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield str(sqlalchemy.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
                  .render_as_string(hide_password=False))
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def measure(backend: str, size: int, postgres: str | None, scratch: Path,
            operations: Sequence[str] = OPERATIONS) -> dict[str, Any]:
    def run(url: str) -> dict[str, Any]:
        result: dict[str, Any] = {"backend": backend, "contacts": size}
        answer, rss = _child(["--child", "seed", "--url", url, "--size", str(size)])
        result["seed_s"] = round(answer["seconds"], 1)
        print(f"  {backend} {size:>9,}: seeded in {answer['seconds']:.0f} s", flush=True)
        for operation in operations:
            answer, rss = _child(["--child", operation, "--url", url])
            result[operation] = {"seconds": round(answer["seconds"], 2), "peak_rss_mib": round(rss),
                                 "decided": answer["decided"], "pushed": answer["pushed"],
                                 "outcome": answer["outcome"]}
            print(f"  {backend} {size:>9,}: {operation:<12} {answer['seconds']:8.2f} s  peak RSS {rss:6.0f} MiB  "
                  f"decided {answer['decided']:>9,}  pushed {answer['pushed']:>9,}  {answer['outcome']}"
                  f"{'  ' + '; '.join(answer['errors']) if answer['errors'] else ''}", flush=True)
        return result

    if backend == "sqlite":
        path = scratch / f"state-{size}.db"
        try:
            return run(f"sqlite:///{path}")
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert postgres is not None
    schemas = _postgres_schema(postgres)
    url = next(schemas)
    try:
        return run(url)
    finally:
        schemas.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=os.environ.get("CRMSYNC_BENCH_POSTGRES_URL")
                        or os.environ.get("CRMSYNC_TEST_POSTGRES_URL"))
    parser.add_argument("--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS),
                        help="which to measure (the rescore of 1,000,000 takes 7 to 12 minutes on a quiet machine)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", choices=("seed", *OPERATIONS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        answer = seed(args.url, args.size) if args.child == "seed" else operate(args.url, args.child)
        answer.setdefault("decided", 0)
        answer.setdefault("pushed", 0)
        print(json.dumps(answer))
        return 0
    backends = list(args.backends)
    if "postgresql" in backends and not args.postgres_url:
        print("no PostgreSQL URL (--postgres-url or CRMSYNC_BENCH_POSTGRES_URL): SQLite only", file=sys.stderr)
        backends.remove("postgresql")
    results = []
    with TemporaryDirectory(prefix="crmsync-bench-") as scratch:
        for size in sorted(args.sizes):
            for backend in backends:
                results.append(measure(backend, size, args.postgres_url, Path(scratch), args.operations))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
