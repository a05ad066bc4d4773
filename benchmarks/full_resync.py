"""Full resync of every contact of three sandbox CRMs with their documented rate limits on: wall time next to
the rate-limit floor, peak memory at two sizes, and a steady-state cycle in which nothing changed.

    python benchmarks/full_resync.py                                   # 100,000 contacts, memory at 10k too
    python benchmarks/full_resync.py --contacts 30000 --memory-at 3000 --pipedrive-plan premium --seats 2

How it runs. The three sandboxes run in a server process of their own (so their stores, which grow with N,
never count in crmsync's memory), started with `enforce_limits=True`: they answer 429 (HubSpot, Pipedrive)
or REQUEST_LIMIT_EXCEEDED (Salesforce) like the real APIs once a client goes over the documented limits, on
real time. crmsync is the real command, `crmsync resync`, run three times as a subprocess against a settings
file that reaches the sandboxes as ordinary accounts (connector default budgets, as a user would have):
1. the full sync: every contact pulled with its deals and activities, decided, and every field written;
2. the echo: the next incremental pull sees crmsync's own writes as changes, decides them again, writes
   nothing (they are exactly what was pushed). Each run is a new process, and `sync.toolkit.echoes`
   remembers crmsync's writes within one process only, so here they are read back in full: the daemon,
   one long process, skips them on HubSpot and Salesforce (`api_efficiency.py` measures that);
3. the steady state: nothing changed anywhere, so zero push calls, and one pull call per CRM object.
Calls per object are counted where the CRM sees them: after each run the server process tallies the requests
each sandbox received during it by what they read (`request_object`: contacts, Lead, Task, persons...) or did
(push, setup, auth, health); crmsync's own count by category is reported next to it.
Peak memory is the maximum resident set size of the crmsync process of run 1 (from `wait4`), measured at
two sizes: it must not grow with N, because pages are streamed and state lives in the store.

The floor. For each CRM, the fewest calls its API allows for the same work (documented page and batch
maxima, applied to the contacts, deals and activities actually seeded), and the time those calls need at
the documented per-window limit (HubSpot Free/Starter: 100 calls per 10 s; Pipedrive: the plan's burst per
2 s, API-token, and its daily token budget; Salesforce: no per-second limit, 100,000 calls per 24 h). The
CRMs are synced one after the other by `resync`, so the resync's floor is the sum.

Honest limits of this benchmark: Pipedrive has no batch update, so pushing 33,334 persons is 33,334 calls
(166,670 tokens). The default company is on the Ultimate plan (120 calls per 2 s, 210,000 tokens a day for
one seat): about 9 minutes of pacing. On Lite (20 per 2 s, 30,000 tokens a day) the same work is an hour of
pacing and 6 days of daily budget, the account parking in between: `--pipedrive-plan lite` shows it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

CRMS = ("hubspot", "salesforce", "pipedrive")
CRMSYNC = str(Path(sys.executable).with_name("crmsync"))

# documented limits and per-request maxima (see each connector's settings and the API documentation they cite)
HUBSPOT = {"burst": 100, "window_s": 10.0, "list_page": 100, "batch_read": 100, "batch_update": 100}
SALESFORCE = {"daily": 100_000, "query_page": 2000, "collection": 200}
PIPEDRIVE_BURST = {"lite": 20, "growth": 40, "premium": 100, "ultimate": 120}  # per 2 s, API token
PIPEDRIVE_DAILY_MULTIPLIER = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}  # x 30,000 tokens x seats
PIPEDRIVE = {"window_s": 2.0, "list_page": 500, "daily_tokens": 30_000, "list_tokens": 10, "update_tokens": 5}


# --- the server process ------------------------------------------------------------------------------------

NOT_PULLS = frozenset({"push", "setup", "auth", "health", "other"})


def request_object(crm: str, method: str, path: str, query: str) -> str:
    """What one request a sandbox received was for: the CRM object it read (HubSpot `contacts`, `deals`...;
    Salesforce the SOQL `FROM` object, `(next page)` for a query_more; Pipedrive `persons`, `deals`...), or
    `push`, `setup`, `auth`, `health`."""
    if crm == "hubspot":
        if path.startswith("/oauth"):
            return "auth"
        if path.endswith("/batch/update"):
            return "push"
        if path.startswith("/crm/v4/associations/"):
            return "associations"
        listed = re.match(r"^/crm/v3/objects/(\w+)", path)
        if listed:
            params = parse_qs(query)
            if method == "GET" and params.get("limit") == ["1"] and "properties" not in params:
                return "health"  # the connector's probe: one contact, for the rate-limit headers
            return listed.group(1)
        return "setup"
    if crm == "salesforce":
        if path.startswith("/services/oauth2"):
            return "auth"
        if path.endswith("/composite/sobjects"):
            return "push"
        if path.endswith("/limits/"):
            return "health"
        if path.endswith(("/query/", "/queryAll/")):
            soql = parse_qs(query).get("q", [""])[0]
            found = re.search(r"\bFROM\s+(\w+)", soql)
            return found.group(1) if found else "other"
        if "/query/" in path or "/queryAll/" in path:
            return "(next page)"
        return "setup"
    if path.startswith("/oauth"):
        return "auth"
    if method == "PATCH":
        return "push"
    if path.endswith("/users/me"):
        return "health"
    listed = re.match(r"^/api/v2/(persons|deals|activities|organizations)$", path)
    return listed.group(1) if listed else "setup"


def population(crm_index: int, per_crm: int) -> dict[str, Any]:
    """What was seeded in one CRM: contacts, deals and activities (by kind), for the floors."""
    from sync.synthetic import synthetic_contacts

    deals, activities = 0, Counter[str]()
    for contact in synthetic_contacts(per_crm, start=crm_index * per_crm):
        deals += len(contact.deals)
        activities.update(a.kind.value for a in contact.activities)
    return {"contacts": per_crm, "deals": deals, "activities": dict(activities)}


def serve(args: argparse.Namespace) -> int:
    """Start the sandboxes, write the settings and what was seeded, print READY, serve until SIGTERM."""
    import logging

    from sync.clock import SystemClock
    from sync.testing import SandboxCrms

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    out = Path(args.serve)
    options = {"pipedrive": {"plan": args.pipedrive_plan, "seats": args.seats}}
    stop = {"now": False, "tallies": 0}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGUSR1, lambda *_: stop.update(tallies=stop["tallies"] + 1))
    with SandboxCrms(CRMS, contacts=args.per_crm, clock=SystemClock(), enforce_limits=not args.no_limits,
                     options=options) as crms:
        env = crms.settings_file(out / "crmsync.json", state_url=f"sqlite:///{out / 'state.db'}")
        (out / "env.json").write_text(json.dumps(env))
        seeded = {crm: population(i, args.per_crm) for i, crm in enumerate(CRMS)}
        (out / "seeded.json").write_text(json.dumps(seeded))
        counted = {crm: 0 for crm in CRMS}
        written = 0
        print("READY", flush=True)
        while not stop["now"]:
            while written < stop["tallies"]:  # SIGUSR1: the requests each sandbox received since the last one
                tally = {}
                for crm in CRMS:
                    received = crms[crm].requests.all()[counted[crm]:]
                    counted[crm] += len(received)
                    tally[crm] = dict(Counter(request_object(crm, r.method, r.path, r.query) for r in received))
                (out / f"tally-{written}.tmp").write_text(json.dumps(tally))
                (out / f"tally-{written}.tmp").rename(out / f"tally-{written}.json")
                written += 1
            time.sleep(0.2)
        answered = {crm: dict(Counter(r.status for r in crms[crm].requests.all())) for crm in CRMS}
        (out / "requests.json").write_text(json.dumps(answered))
    return 0


# --- the driver --------------------------------------------------------------------------------------------


@dataclass
class CrmRun:
    crm: str
    outcome: str
    seconds: float
    pulled: int
    pushed: int
    api_calls: dict[str, int]


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    crms: list[CrmRun] = field(default_factory=list)
    received: dict[str, dict[str, int]] = field(default_factory=dict)  # per CRM: requests by object


def tally(server: subprocess.Popen[str], workdir: Path, number: int) -> dict[str, dict[str, int]]:
    """Ask the server for the requests each sandbox received since the previous tally, and wait for them."""
    server.send_signal(signal.SIGUSR1)
    path = workdir / f"tally-{number}.json"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the sandbox server did not write its request tally")
        time.sleep(0.05)
    return json.loads(path.read_text())


@dataclass
class Size:
    contacts: int
    per_crm: int
    seed_s: float
    runs: list[Run]
    seeded: dict[str, Any]
    answered: dict[str, dict[str, int]]
    floors: dict[str, dict[str, float]]


def _hubspot_floor(seeded: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """Contact list pages and batch updates of 100, batch reads of 100 deals or engagements of one type."""
    calls = (math.ceil(seeded["contacts"] / HUBSPOT["list_page"]) + math.ceil(seeded["contacts"] / HUBSPOT["batch_update"])
             + math.ceil(seeded["deals"] / HUBSPOT["batch_read"])
             + sum(math.ceil(n / HUBSPOT["batch_read"]) for n in seeded["activities"].values()))
    return {"calls": calls, "seconds": max(calls - HUBSPOT["burst"], 0) / HUBSPOT["burst"] * HUBSPOT["window_s"]}


def _salesforce_floor(seeded: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """SOQL pages of 2,000 (people, opportunities, activities), sObject Collections of 200; only a daily cap."""
    page = SALESFORCE["query_page"]
    calls = (math.ceil(seeded["contacts"] / page) + math.ceil(seeded["deals"] / page)
             + math.ceil(sum(seeded["activities"].values()) / page)
             + math.ceil(seeded["contacts"] / SALESFORCE["collection"]))
    return {"calls": calls, "seconds": (calls // SALESFORCE["daily"]) * 86_400.0}


def _pipedrive_floor(seeded: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """List pages of 500 (persons, deals, activities) and one update per person (no batch update), paced by
    the plan's burst per 2 s; and tokens (10 a list page, 5 an update) against the plan's daily budget: once
    spent, the account waits for the next day."""
    burst = PIPEDRIVE_BURST[args.pipedrive_plan]
    page = PIPEDRIVE["list_page"]
    lists = (math.ceil(seeded["contacts"] / page) + math.ceil(seeded["deals"] / page)
             + math.ceil(sum(seeded["activities"].values()) / page))
    calls = lists + seeded["contacts"]
    tokens = lists * PIPEDRIVE["list_tokens"] + seeded["contacts"] * PIPEDRIVE["update_tokens"]
    budget = PIPEDRIVE["daily_tokens"] * PIPEDRIVE_DAILY_MULTIPLIER[args.pipedrive_plan] * args.seats
    days = math.ceil(tokens / budget) - 1
    return {"calls": calls, "seconds": max(max(calls - burst, 0) / burst * PIPEDRIVE["window_s"], days * 86_400.0),
            "tokens": tokens, "daily_tokens": budget}


FLOORS = {"hubspot": _hubspot_floor, "salesforce": _salesforce_floor, "pipedrive": _pipedrive_floor}


def floors(seeded: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The fewest calls each API allows for a full sync of what was seeded, and the time they need."""
    return {crm: FLOORS[crm](seeded[crm], args) for crm in seeded}


def run_crmsync(config: Path, env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """One `crmsync resync`: wall seconds, peak RSS in MB (wait4), exit code."""
    started = time.perf_counter()
    with log.open("a") as sink:
        child = subprocess.Popen([CRMSYNC, "resync", "--config", str(config), "--log-level", "WARNING"],
                                 env={**os.environ, **env, "COLUMNS": "200"}, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode


def runs_in(db: Path, since: int) -> list[CrmRun]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT crm, outcome, started_at, finished_at, counts FROM runs ORDER BY started_at "
                            "LIMIT -1 OFFSET ?", (since,)).fetchall()
    out = []
    for crm, outcome, started, finished, counts in rows:
        c = json.loads(counts)
        seconds = (_time(finished) - _time(started)) if finished else 0.0
        out.append(CrmRun(crm, outcome, seconds, c.get("pulled", 0), c.get("pushed", 0), c.get("api_calls", {})))
    return out


def _time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def _pushed(run: Run) -> int:
    return sum(r.pushed for r in run.crms)


def measure(contacts: int, args: argparse.Namespace, runs: int) -> Size:
    per_crm = math.ceil(contacts / len(CRMS))
    workdir = Path(tempfile.mkdtemp(prefix=f"crmsync-bench-{contacts}-"))
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(workdir), "--per-crm", str(per_crm),
                               "--pipedrive-plan", args.pipedrive_plan, "--seats", str(args.seats),
                               *(["--no-limits"] if args.no_limits else [])], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "READY":
            raise RuntimeError("the sandbox server did not start")
        seed_s = time.perf_counter() - started
        env = json.loads((workdir / "env.json").read_text())
        tally(server, workdir, 0)  # whatever seeding sent: not a run's
        done: list[Run] = []
        # the full sync; then runs until one writes nothing (the echo of the full sync's writes, and what
        # the clock changed meanwhile: SLA due times passed, engagement decayed); the run after that one is
        # the steady state: nothing changed anywhere since the previous run
        while len(done) < runs or (runs > 1 and _pushed(done[-2]) and len(done) < runs + 3):
            before = len(runs_in(workdir / "state.db", 0)) if (workdir / "state.db").exists() else 0
            wall, rss, code = run_crmsync(workdir / "crmsync.json", env, workdir / "crmsync.log")
            done.append(Run(wall, rss, code, runs_in(workdir / "state.db", before),
                            tally(server, workdir, len(done) + 1)))
            print(f"  {contacts:>7} contacts, run {len(done)}: {wall:8.1f} s, peak {rss:6.0f} MB, exit {code}, "
                  f"pushed {_pushed(done[-1])}", file=sys.stderr, flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    seeded = json.loads((workdir / "seeded.json").read_text())
    answered = json.loads((workdir / "requests.json").read_text())
    return Size(contacts=per_crm * len(CRMS), per_crm=per_crm, seed_s=seed_s, runs=done, seeded=seeded,
                answered=answered, floors=floors(seeded, args))


def report(main: Size, small: Size | None, args: argparse.Namespace) -> str:
    limits = "off" if args.no_limits else (f"on: HubSpot Starter 100/10 s, Salesforce 100,000/24 h, Pipedrive "
                                           f"{args.pipedrive_plan} {PIPEDRIVE_BURST[args.pipedrive_plan]}/2 s "
                                           f"x {args.seats} seat(s)")
    lines = [f"full resync: {main.contacts:,} contacts ({main.per_crm:,} per CRM), rate limits {limits}",
             (f"{'CRM':11} {'outcome':8} {'seconds':>9} {'calls':>7} {'429/403':>8} {'floor calls':>11} "
              f"{'floor s':>9} {'x floor':>8}")]
    first = main.runs[0]
    for r in first.crms:
        floor = main.floors[r.crm]
        limited = sum(n for status, n in main.answered[r.crm].items() if status in ("429", "403"))
        ratio = f"{r.seconds / floor['seconds']:.2f}" if floor["seconds"] else "-"
        lines.append(f"{r.crm:11} {r.outcome:8} {r.seconds:>9.1f} {sum(r.api_calls.values()):>7} {limited:>8} "
                     f"{int(floor['calls']):>11} {floor['seconds']:>9.1f} {ratio:>8}")
    total_floor = sum(f["seconds"] for f in main.floors.values())
    lines.append(f"resync wall time {first.wall_s:.1f} s (the CRMs one after the other) vs a rate-limit floor of "
                 f"{total_floor:.1f} s; seeding the sandboxes took {main.seed_s:.1f} s (not counted)")
    sizes = [s for s in (small, main) if s is not None]
    lines.append("peak memory of the crmsync process (full sync): " + ", ".join(
        f"{s.contacts:,} contacts: {s.runs[0].peak_rss_mb:.0f} MB" for s in sizes))
    if len(main.runs) >= 3:
        steady = main.runs[-1]
        for number, run in enumerate(main.runs[1:-1], start=2):
            lines.append(f"run {number} (the echo of the writes before it): {run.wall_s:.1f} s, pulled "
                         f"{sum(r.pulled for r in run.crms):,}, pushed {sum(r.pushed for r in run.crms)} "
                         "(what the clock changed since: SLA due times passed, engagement decayed)")
        lines.append(f"steady state (run {len(main.runs)}, nothing changed since the previous run): {steady.wall_s:.1f} s, "
                     f"pulled {sum(r.pulled for r in steady.crms)}, pushed {sum(r.pushed for r in steady.crms)}")
        lines.append(f"  {'CRM':11} {'push calls':>10}  pull calls per object, as the CRM received them "
                     "(crmsync's own count by category)")
        for r in steady.crms:
            received = steady.received.get(r.crm, {})
            pulls = {k: v for k, v in sorted(received.items()) if k not in NOT_PULLS}
            counted = {k: v for k, v in sorted(r.api_calls.items()) if k not in NOT_PULLS}
            lines.append(f"  {r.crm:11} {received.get('push', 0):>10}  "
                         + ", ".join(f"{k} {v}" for k, v in pulls.items())
                         + f" ({', '.join(f'{k} {v}' for k, v in counted.items())})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts across the three CRMs")
    parser.add_argument("--memory-at", type=int, default=10_000, help="a smaller size to compare peak memory "
                        "with (0: skip)")
    parser.add_argument("--pipedrive-plan", choices=sorted(PIPEDRIVE_BURST), default="ultimate",
                        help="the Pipedrive company's plan: its burst limit and daily token budget (Lite's "
                             "30,000 tokens a day cannot update 33,334 persons: the account would park for days)")
    parser.add_argument("--seats", type=int, default=1, help="Pipedrive seats (the daily budget scales with them)")
    parser.add_argument("--no-limits", action="store_true", help="sandboxes do not enforce limits (the "
                        "connectors still pace themselves to their default budgets)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--per-crm", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    small = measure(args.memory_at, args, runs=1) if args.memory_at else None
    main_size = measure(args.contacts, args, runs=3)
    if args.json:
        print(json.dumps({"main": asdict(main_size), "small": asdict(small) if small else None}, indent=2))
    else:
        print(report(main_size, small, args))
    ok = all(run.exit_code == 0 for s in (small, main_size) if s for run in s.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
