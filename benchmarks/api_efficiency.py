"""API efficiency of the three connectors side by side, object by object, measured the same way for each.

Each CRM's sandbox is seeded with the same N synthetic people; the daemon's own `AccountRunner` then runs
three cycles on the shipped rules, five minutes apart: a first, full one (set-up, pull, decide, push); a
second one, where the only changes in the CRM are crmsync's own writes of the first (every API shows a
record written as modified and its search or stream finds it again; `sync.toolkit.echoes` then spares reading
it back with its related records: what is left is listed, not hidden); a third one where
nothing changed at all (after as many unreported cycles as it takes for one to write nothing: a decision
that changes with time alone, an SLA falling due, is a write the next cycle reads back). Every request each sandbox answered is sorted by the object it
read or wrote, with the records it carried, next to that object's floor: the fewest calls the API allows
for those records, ceil(records / the API's largest page or batch for that call). Related reads are objects
of their own (Salesforce's Task, Event, CampaignMember and OpportunityContactRole; HubSpot's associations
and engagements; Pipedrive's deals, activities and organizations). Metadata (properties, describes, field
lists, pipelines) has a floor of one call per resource on the first cycle and none after.

"Nothing changed" is judged alike for the three: the records the third cycle read (must be 0), its calls,
and its floor: one call per object whose changes the API can only tell when asked (HubSpot's searches of
contacts, deals and each engagement type; Salesforce's Lead, Contact and the four related objects;
Pipedrive's persons, deals and activities), and nothing pushed.

The largest pages (from each API's reference): HubSpot list 100, search 200, batch read and update 100,
v4 association batch read 1,000 inputs; Salesforce SOQL 2,000 rows a page, sObject Collections 200
records; Pipedrive v2 lists 500 rows, `ids=` look-ups 100 ids, one person per update (no batch update).

    python benchmarks/api_efficiency.py [N] [--json]      # N people per CRM, default 2,000
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sync import registry
from sync.clock import FrozenClock
from sync.daemon.accounts import AccountRunner
from sync.daemon.engine import RunOptions
from sync.state import StateStore
from sync.synthetic import synthetic_contacts

TARGET = 1.05  # a connector may make at most 5% more calls than its API's floor, object by object
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FULL, ECHO, QUIET = "full", "after own writes", "nothing changed"


@dataclass(frozen=True)
class Call:
    """One request a sandbox answered: the object it concerns, the records it carried, the largest page or
    batch the API allows for it (None: metadata, one call per resource), and whether it wrote."""

    object: str
    records: int
    page: int | None
    write: bool = False
    resource: str = ""


@dataclass(frozen=True)
class ObjectRow:
    crm: str
    cycle: str
    object: str
    records: int
    calls: int
    floor: int
    write: bool

    @property
    def ratio(self) -> float | None:
        return self.calls / self.floor if self.floor else None

    @property
    def ok(self) -> bool:
        if self.cycle == QUIET and not self.write and self.records:
            return False  # nothing changed: nothing to read
        return self.calls <= self.floor if self.floor <= 1 else self.calls <= TARGET * self.floor


# -- how each sandbox's log reads as calls ------------------------------------------------------------------

_HUBSPOT_OBJECT = re.compile(r"^/crm/v3/objects/(?P<object>[a-z_]+)(?:/(?P<verb>search|batch/read|batch/update))?$")
_HUBSPOT_ASSOCIATIONS = re.compile(r"^/crm/v4/associations/(?P<source>[a-z_]+)/(?P<target>[a-z_]+)/batch/read$")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def hubspot_calls(exchanges: Iterable[Any]) -> list[Call]:
    calls = []
    for exchange in exchanges:
        body, answer = _json(exchange.body) or {}, _json(exchange.response) or {}
        results = len(answer.get("results") or []) if isinstance(answer, dict) else 0
        if match := _HUBSPOT_ASSOCIATIONS.match(exchange.path):
            calls.append(Call(f"associations {match['source']}->{match['target']}", len(body.get("inputs") or []),
                              1000))
        elif (match := _HUBSPOT_OBJECT.match(exchange.path)) and exchange.method in ("GET", "POST"):
            verb = match["verb"]
            if verb == "batch/update":
                calls.append(Call(f"{match['object']} batch update", len(body.get("inputs") or []), 100, True))
            elif verb == "batch/read" and body.get("propertiesWithHistory"):  # 50 records a read with history
                calls.append(Call(f"{match['object']} batch read with history", results, 50))
            else:
                name = {"search": "search", "batch/read": "batch read", None: "list"}[verb]
                archived = "archived=true" in exchange.query.lower()
                calls.append(Call(f"{match['object']} {'archived ' if archived else ''}{name}", results,
                                  200 if verb == "search" else 100))
        elif exchange.path.startswith(("/crm/v3/properties", "/crm/v3/pipelines")):
            kind = "properties" if "properties" in exchange.path else "pipelines"
            calls.append(Call(f"{kind} (metadata)", 0, None, exchange.method != "GET",
                              f"{exchange.method} {exchange.path}"))
        else:
            calls.append(Call(f"other: {exchange.method} {exchange.path.split('?')[0]}", 0, None,
                              resource=exchange.path))
    return calls


def salesforce_calls(requests: Iterable[Any], served: Iterable[Any]) -> list[Call]:
    """SOQL pages as the org served them (object, rows), each named by the query that asked for it; the
    other requests by what they did."""
    pages, calls = iter(list(served)), []
    label = ""
    for request in requests:
        path = request.path
        if "/query" in path:  # a query, or the next page of the previous one (same label)
            page = next(pages, None)
            if page is None:
                continue
            soql = parse_qs(request.query).get("q", [""])[0]
            if soql or page.first:
                purpose = next((said for start, said in _SOQL_PURPOSES.items() if soql.startswith(start)), "")
                label = f"{page.sobject} {purpose}".strip()
            calls.append(Call(label or page.sobject, page.rows, 2000))
            continue
        if "/composite/sobjects" in path and request.method == "PATCH":
            body = request.json() or {}
            calls.append(Call("Lead/Contact update (collections)", len(body.get("records") or []), 200, True))
        elif path.endswith("/describe") or "/sobjects" in path and request.method == "GET":
            calls.append(Call("describe (metadata)", 0, None, resource=path))
        elif "/services/Soap/m/" in path:  # the Metadata API: one operation a call
            operation = _SOAP_OPERATION.search(request.body.decode("utf-8", "replace"))
            calls.append(Call("Metadata API (set-up)", 0, None, True,
                              f"{operation.group(1) if operation else '?'} {request.body[-200:]!r}"))
        elif "/oauth2/token" in path:
            calls.append(Call("token", 0, None, resource="token"))
        else:
            calls.append(Call(f"other: {request.method} {re.sub(r'/v[0-9.]+/', '/vXX/', path)}", 0, None,
                              request.method != "GET", path))
    return calls


#: queries that are not an object's pull, by how they begin
_SOQL_PURPOSES = {"SELECT Id, Rating FROM Lead WHERE Id IN (": "Rating (read before a push)"}
_SOAP_OPERATION = re.compile(r"<(?:\w+:)?(\w+Metadata|describe\w*)\b")
_PIPEDRIVE_LISTS = {"/api/v2/persons": "persons", "/api/v2/deals": "deals", "/api/v2/activities": "activities",
                    "/api/v2/organizations": "organizations"}


def pipedrive_calls(exchanges: Iterable[tuple[Any, Any]]) -> list[Call]:
    calls = []
    for request, response in exchanges:
        path, answer = request.path, _json(response.get_data()) or {}
        rows = answer.get("data") if isinstance(answer, dict) else None
        records = len(rows) if isinstance(rows, list) else (1 if isinstance(rows, dict) else 0)
        if request.method == "GET" and path in _PIPEDRIVE_LISTS:
            by_id = "ids" in parse_qs(request.query_string.decode())
            calls.append(Call(f"{_PIPEDRIVE_LISTS[path]}{' by id' if by_id else ''}", records, 100 if by_id else 500))
        elif request.method in ("PATCH", "PUT") and path.startswith(("/api/v2/persons/", "/api/v1/persons/")):
            calls.append(Call("person update", 1, 1, True))
        elif "Fields" in path or path.startswith(("/api/v2/stages", "/api/v2/pipelines", "/api/v1/users")):
            created = (_json(request.get_data()) or {}).get("name", "") if request.method != "GET" else ""
            calls.append(Call(f"{path.rsplit('/', 1)[-1]} (metadata)", 0, None, request.method != "GET",
                              f"{request.method} {path} {created} {request.query_string.decode()}"))
        else:
            calls.append(Call(f"other: {request.method} {path}", 0, None, request.method != "GET", path))
    return calls


#: the objects whose changes each API tells only when asked: one call each is the floor of a quiet cycle
FEEDS: dict[str, Callable[[str], bool]] = {
    "hubspot": lambda name: name.endswith(" search") or name == "contacts archived list",
    "salesforce": lambda name: name in ("Lead", "Contact", "Task", "Event", "CampaignMember",
                                        "OpportunityContactRole"),
    "pipedrive": lambda name: name in ("persons", "deals", "activities"),
}


def rows_of(crm: str, cycle: str, calls: list[Call]) -> list[ObjectRow]:
    by_object: dict[str, list[Call]] = {}
    for call in calls:
        by_object.setdefault(call.object, []).append(call)
    if cycle != FULL:
        for name in _feeds_seen.get(crm, ()):
            by_object.setdefault(name, [])
    rows = []
    for name, made in sorted(by_object.items()):
        if not made and not FEEDS[crm](name):
            continue
        records = sum(call.records for call in made)
        page = next((call.page for call in made if call.page), None)
        if page is None:  # metadata: one call per resource the first time, none after
            floor = len({call.resource for call in made}) if cycle == FULL else 0
        else:
            floor = math.ceil(records / page)
            if FEEDS[crm](name):  # a change feed is asked once at least, whatever it answers
                floor = max(floor, 1)
        if made or floor:  # a feed a cycle need not ask (HubSpot's archived sweep runs on full pulls) is no row
            rows.append(ObjectRow(crm, cycle, name, records, len(made), floor, any(call.write for call in made)))
    return rows


_feeds_seen: dict[str, set[str]] = {}  # the change feeds a full cycle read: a quiet cycle must ask each


# -- the two cycles ---------------------------------------------------------------------------------------

class Measured:
    """One CRM's sandbox and connector on a frozen clock that pacing moves, with its log read per cycle."""

    def __init__(self, crm: str, n: int, directory: Path) -> None:
        self.crm, self.clock = crm, FrozenClock(NOW)
        sandbox_class = registry.sandbox_classes([crm])[crm]
        options: dict[str, Any] = {"daily_tokens": 10**9} if crm == "pipedrive" else {}
        self.sandbox = sandbox_class(clock=self.clock, **options).start()
        self.sandbox.seed(synthetic_contacts(n, now=NOW))
        settings = (self.sandbox.settings(daily_token_budget=10**9) if crm == "pipedrive"
                    else self.sandbox.settings())
        connector_class = registry.crm_kind(crm).connector_class()
        self.connector = connector_class(settings, account="bench", clock=self.clock, sleep=self._sleep)
        self.store = StateStore(f"sqlite:///{directory / f'{crm}.db'}", clock=self.clock)
        rules = registry.rules_loader()(None)
        self.runner = AccountRunner(store=self.store, connector=self.connector, rules=lambda: rules,
                                    clock=self.clock, options=RunOptions(health_interval=None))
        if crm == "pipedrive":
            self.sandbox.record()

    def _sleep(self, seconds: float) -> None:  # pacing is simulated, not slept
        self.clock.advance(timedelta(seconds=seconds))

    def _mark(self) -> tuple[int, int, int]:
        sandbox = self.sandbox
        if self.crm == "hubspot":
            return len(sandbox.exchanges), 0, 0
        if self.crm == "salesforce":
            return len(sandbox.requests.all()), len(sandbox.rest.served), 0
        return len(sandbox.exchanges), 0, 0

    def _calls(self, mark: tuple[int, int, int]) -> list[Call]:
        sandbox = self.sandbox
        if self.crm == "hubspot":
            return hubspot_calls(sandbox.exchanges[mark[0]:])
        if self.crm == "salesforce":
            return salesforce_calls(sandbox.requests.all()[mark[0]:], sandbox.rest.served[mark[1]:])
        return pipedrive_calls(sandbox.exchanges[mark[0]:])

    def cycle(self, name: str) -> tuple[list[ObjectRow], Any, float]:
        mark, started = self._mark(), time.perf_counter()
        summary = self.runner.cycle(threading.Event())
        seconds = time.perf_counter() - started
        if summary.outcome.value != "ok":
            raise RuntimeError(f"{self.crm} {name} cycle: {summary.outcome.value}: {summary.errors[:3]}")
        calls = self._calls(mark)
        if name == FULL:
            _feeds_seen[self.crm] = {call.object for call in calls if FEEDS[self.crm](call.object)}
        return rows_of(self.crm, name, calls), summary, seconds

    def settle(self, most: int = 5) -> None:
        """Cycles, unreported, until one writes nothing: a decision that changed with time alone (an SLA
        falling due) is a write whose echo the next cycle reads back; "nothing changed" starts after that."""
        for _ in range(most):
            if not self.runner.cycle(threading.Event()).pushed:
                return
            self.clock.advance(timedelta(minutes=5))

    def close(self) -> None:
        self.connector.close()
        self.store.close()
        self.sandbox.stop()


@dataclass(frozen=True)
class CrmFigures:
    crm: str
    people: int
    rows: list[ObjectRow]
    quiet_records: int  # records the quiet cycle read
    quiet_emitted: int  # contacts its pull handed to the engine
    quiet_pushed: int  # records it wrote
    seconds: dict[str, float]

    @property
    def quiet(self) -> bool:
        """The one property this benchmark holds a connector to: a cycle where nothing changed reads,
        emits and writes no record (rows over the call target are reported, each with its reason in the
        issue notes, not failed)."""
        return not (self.quiet_records or self.quiet_emitted or self.quiet_pushed)


def measure(n: int = 2_000, crms: tuple[str, ...] = ("hubspot", "salesforce", "pipedrive")) -> list[CrmFigures]:
    results = []
    with tempfile.TemporaryDirectory(prefix="crmsync-api-efficiency-") as directory:
        for crm in crms:
            measured = Measured(crm, n, Path(directory))
            try:
                measured.clock.advance(timedelta(minutes=1))  # the seeded history is in the past
                rows, seconds = [], {}
                for cycle in (FULL, ECHO, QUIET):
                    if cycle == QUIET:
                        measured.settle()
                    cycle_rows, summary, seconds[cycle] = measured.cycle(cycle)
                    rows.extend(cycle_rows)
                    measured.clock.advance(timedelta(minutes=5))
            finally:
                measured.close()
            quiet = [row for row in rows if row.cycle == QUIET]
            results.append(CrmFigures(crm, n, rows, sum(r.records for r in quiet if not r.write), summary.pulled,
                                      sum(r.records for r in quiet if r.write),
                                      {cycle: round(spent, 1) for cycle, spent in seconds.items()}))
    return results


def table(results: list[CrmFigures]) -> str:
    header = f"{'CRM':11} {'cycle':16} {'object':38} {'records':>8} {'calls':>6} {'floor':>6} {'x floor':>8}"
    lines = [header, "-" * len(header)]
    for figures in results:
        for row in figures.rows:
            ratio = f"{row.ratio:8.3f}" if row.ratio is not None else ("    zero" if not row.calls else "  excess")
            lines.append(f"{row.crm:11} {row.cycle:16} {('write: ' if row.write else '') + row.object:38} "
                         f"{row.records:>8} {row.calls:>6} {row.floor:>6} {ratio}{'' if row.ok else '  over'}")
        for cycle in (FULL, ECHO, QUIET):
            rows = [row for row in figures.rows if row.cycle == cycle]
            lines.append(f"{figures.crm:11} {cycle:16} {'(all)':38} {sum(r.records for r in rows):>8} "
                         f"{sum(r.calls for r in rows):>6} {sum(r.floor for r in rows):>6}   "
                         f"{figures.seconds[cycle]} s")
        lines.append("")
    lines.append(f"x floor: calls / floor (target <= {TARGET} where the floor is above 1, the floor itself "
                 "below); a quiet cycle must read and write no record")
    lines.append("; ".join(f"{f.crm}: quiet cycle {'met' if f.quiet else 'MISSED'} ({f.quiet_records} records "
                           f"read, {f.quiet_emitted} contacts emitted, {f.quiet_pushed} written), "
                           f"objects over the target: {sum(not row.ok for row in f.rows)}" for f in results))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("people", nargs="?", type=int, default=2_000, help="people per CRM")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per sandbox request
    results = measure(args.people)
    if args.json:
        print(json.dumps([{**asdict(f), "rows": [{**asdict(r), "ok": r.ok} for r in f.rows], "quiet": f.quiet}
                          for f in results], indent=2))
    else:
        print(f"API efficiency, {args.people} people per CRM (the same people), object by object")
        print(table(results))
    return 0 if all(f.quiet for f in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
