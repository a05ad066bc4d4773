"""`crmsync demo`, the work without the printing: three sandbox CRMs, one full cycle each, and the numbers.

The demo goes through exactly what the daemon uses, nothing demo-only: it writes a settings file with one
sandbox account per CRM into its own directory and loads it like any other (so `crmsync status --config`,
`resync --config` and `run --config` work on it afterwards); the settings name `my-rules.yaml` in the same
directory (a copy of the shipped rules, made once: a second demo in the same directory keeps the admin's
edits), so the daemon run on them hot-reloads an edit of that file; it opens the accounts (each sandbox
starts in-process on a free port and is seeded with its own slice of the synthetic population) and runs
`AccountRunner.cycle` on the three at once against a fresh state store, then `AccountRunner.sweep` on each,
the SLA sweep the daemon runs every few minutes: the demo's copy of the rules turns the SLA reminders on
(`sla.reminder.enabled`, off in the shipped rules), so the sweep writes a reminder task into each sandbox CRM
for the prospects not yet touched once 75% of their SLA has passed. What it reports comes from the state
store (the decisions) and the run summaries (what was written, the API calls it took, the tasks created).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from sync import registry
from sync.clock import Clock
from sync.daemon.accounts import AccountRunner, run_options, select_accounts
from sync.daemon.report import RunSummary
from sync.daemon.service import open_accounts
from sync.reminders.policy import ReminderPolicy, reminder_policy
from sync.settings import load_settings
from sync.state import AccountRef, Classification, StateStore
from sync.state.reminders import REMINDER, ReminderStore

ProgressCallback = Callable[[RunSummary], None]

SETTINGS_TEMPLATE = """\
# Written by `crmsync demo`: the three sandbox CRMs it ran, and the state store it left behind.
#   crmsync status --config {config}
#   crmsync resync --config {config} --dry-run
#   crmsync run    --config {config}
# Each command that opens these accounts starts fresh sandboxes seeded with the same people.
state:
  url: {state_url}
rules:
  path: {rules}   # edit it while `crmsync run` runs: it is reloaded
http:
  port: {port}
accounts:
{accounts}"""

ACCOUNT_TEMPLATE = """\
  - name: {crm}-sandbox
    crm: {crm}
    sandbox: true
    sandbox_contacts: {contacts}
    interval: 5m
    jitter: 30s
{settings}"""
# Pipedrive has no batch update (one call per person) and a Lite company may make 20 calls per 2 s: the
# demo's company is a Premium one (100 per 2 s), or its 200 updates alone would take 20 s of pacing.
ACCOUNT_SETTINGS = {"pipedrive": "    settings: {plan: premium, burst_limit: 100}\n"}


class DemoError(Exception):
    """The demo could not run (a sandbox or connector missing, a CRM that failed): the message says which."""


@dataclass(frozen=True, slots=True)
class CrmResult:
    """One CRM after its cycle: what the run did and how its contacts are now classified."""

    crm: str
    account: str
    summary: RunSummary
    classes: Counter[Classification]
    breaches_open: int
    seconds: float
    sweep: RunSummary | None = None  # the SLA sweep after the cycle: the reminder tasks it wrote
    next_reminder: datetime | None = None  # when the next reminder falls due (a running clock without one)

    @property
    def reminders_created(self) -> int:
        return self.sweep.reminders[("reminder", "created")] if self.sweep is not None else 0

    @property
    def reminders_skipped(self) -> int:
        return self.sweep.reminders[("reminder", "skipped")] if self.sweep is not None else 0

    def stages(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, count in self.classes.items():
            out[key.stage or "undecided"] += count
        return out

    def maturities(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, count in self.classes.items():
            if key.stage == "prospect":
                out[key.maturity or "unrated"] += count
        return out

    def client_kinds(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, count in self.classes.items():
            if key.stage == "client":
                out[key.client_kind or "unknown"] += count
        return out

    def sla(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, count in self.classes.items():
            if key.sla_status and key.sla_status != "not_started":
                out[key.sla_status] += count
        return out


@dataclass
class DemoReport:
    directory: Path
    config: Path
    state_url: str
    rules_version: str
    rules_path: str
    contacts_per_crm: int
    results: list[CrmResult] = field(default_factory=list)
    example: Path | None = None  # a prospect's contact, as `rules explain --contact` reads it
    example_id: str | None = None
    sample: Path | None = None  # every synced contact as JSON lines, as `rules diff --contacts` reads them
    my_rules: Path | None = None  # a copy of the shipped rules (and their cases) to edit and try
    shipped_rules: Path | None = None  # the shipped rules as they are, to diff an edit against
    report_page: Path | None = None  # the funnel and SLA report of what the demo left in the store
    reminders_on: bool = False  # whether the rules in force create SLA reminder tasks
    seconds: float = 0.0


def write_settings(directory: Path, *, state_url: str, contacts: int, port: int = 8080,
                   crms: tuple[str, ...] | None = None, rules: Path | None = None) -> Path:
    """The demo's settings file; `rules` None means the shipped rules. Paths and URLs are written as quoted
    YAML strings, so a directory with spaces or colons in its name stays one value."""
    config = directory / "crmsync.yaml"
    accounts = "".join(ACCOUNT_TEMPLATE.format(crm=crm, contacts=contacts, settings=ACCOUNT_SETTINGS.get(crm, ""))
                       for crm in (crms or registry.SANDBOX_CRMS))
    config.write_text(SETTINGS_TEMPLATE.format(config=config, state_url=json.dumps(state_url), port=port,
                                               accounts=accounts,
                                               rules=json.dumps(str(rules)) if rules is not None else "null"))
    return config


def run_demo(directory: Path, *, clock: Clock, contacts: int = 200, state_url: str | None = None,
             crms: tuple[str, ...] | None = None, progress: ProgressCallback | None = None) -> DemoReport:
    """Start the sandboxes, run one full cycle on each (at the same time), and gather the report."""
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    state_url = state_url or f"sqlite:///{directory / 'state.db'}"
    shipped = str(getattr(registry.rules_loader()(None), "source", "") or "")
    my_rules = _copy_rules(shipped, directory)
    config = write_settings(directory, state_url=state_url, contacts=contacts, crms=crms, rules=my_rules)
    settings = load_settings(config)
    rules = registry.rules_loader()(settings.rules.path)
    policy = reminder_policy(rules)
    report = DemoReport(directory=directory, config=config, state_url=state_url,
                        rules_version=str(rules.version), rules_path=shipped, contacts_per_crm=contacts,
                        my_rules=my_rules, shipped_rules=directory / SHIPPED_COPY if my_rules else None,
                        reminders_on=policy is not None and policy.enabled)
    with StateStore(state_url, clock=clock) as store:
        opened, failed = open_accounts(select_accounts(settings), clock=clock, sleep=time.sleep)
        try:
            if failed:
                raise DemoError("; ".join(f"{key}: {why}" for key, why in failed.items()))
            for account in opened:
                store.forget_account(account.account.ref)  # a --state URL used before: start fresh anyway
            runners = [AccountRunner(store=store, connector=account.connector, rules=lambda: rules, clock=clock,
                                     options=run_options(settings, account.account)) for account in opened]
            timed = _run_all(runners, progress)
        finally:
            for account in reversed(opened):
                account.close()
        classes = store.classification_counts()
        for runner, (summary, seconds, sweep) in zip(runners, timed, strict=True):
            ref = _ref(runner)
            report.results.append(CrmResult(crm=ref.crm, account=ref.account, summary=summary, seconds=seconds,
                                            classes=classes.get(ref, Counter()),
                                            breaches_open=len(store.open_breaches(ref)), sweep=sweep,
                                            next_reminder=_next_reminder(store, ref, policy)))
        failures = [(result.crm, run) for result in report.results for run in (result.summary, result.sweep)
                    if run is not None and run.outcome.value not in ("ok", "partial")]
        if failures:
            raise DemoError("; ".join(f"{crm}: {run.outcome.value}: {'; '.join(run.errors[:3])}"
                                      for crm, run in failures))
        report.example, report.example_id = _example(store, runners, directory)
        report.sample = _sample(store, runners, directory / "contacts.jsonl")
        report.report_page = _report_page(store, clock, directory / "report.html")
    report.seconds = time.perf_counter() - started
    return report


def _ref(runner: AccountRunner) -> AccountRef:
    return AccountRef(runner.connector.crm, runner.connector.account)


def _run_all(runners: list[AccountRunner],
             progress: ProgressCallback | None) -> list[tuple[RunSummary, float, RunSummary | None]]:
    """One cycle per account, all at once (each CRM is its own server): the wall time is the slowest CRM's.
    Then, per account, the SLA sweep (the reminder tasks due); a cycle that failed gets none. Each result is
    (the cycle, its seconds, the sweep)."""
    stop = threading.Event()

    def one(runner: AccountRunner) -> tuple[RunSummary, float, RunSummary | None]:
        began = time.perf_counter()
        summary = runner.cycle(stop)
        assert summary is not None  # no replicas here: every account is this process's
        seconds = time.perf_counter() - began
        if progress is not None:
            progress(summary)
        sweep = runner.sweep(stop) if summary.outcome.value in ("ok", "partial") else None
        return summary, seconds, sweep

    with ThreadPoolExecutor(max_workers=max(len(runners), 1), thread_name_prefix="demo") as pool:
        return list(pool.map(one, runners))


MY_RULES = "my-rules.yaml"
SHIPPED_COPY = "shipped-rules.yaml"


def _copy_rules(shipped: str, directory: Path) -> Path | None:
    """`my-rules.yaml` (with its cases as `my-rules.cases.yaml` beside it, where `rules test` looks) for an
    admin to edit, check, test and diff: copied from the shipped rules only when it is not there yet, so a
    second demo in the same directory never overwrites an edit. `shipped-rules.yaml` is refreshed each time:
    it is what an edit is diffed against."""
    if not shipped or not Path(shipped).exists():
        return None
    source = Path(shipped)
    shutil.copyfile(source, directory / SHIPPED_COPY)
    target = directory / MY_RULES
    if not target.exists():
        target.write_text(with_reminders(source.read_text(encoding="utf-8")), encoding="utf-8")
    cases = source.with_name(f"{source.stem}.cases.yaml")
    mine = directory / f"{target.stem}.cases.yaml"
    if cases.exists() and not mine.exists():
        shutil.copyfile(cases, mine)
    return target


def _next_reminder(store: StateStore, ref: AccountRef, policy: ReminderPolicy | None) -> datetime | None:
    """When the earliest reminder not yet written falls due: the sweep of a daemon running then writes it."""
    if policy is None or not policy.enabled:
        return None
    clocks = ReminderStore(store).clocks_without(ref, REMINDER, ["running"])
    return min((policy.remind_at(clock.started_at, clock.due_at) for clock in clocks), default=None)


# `sla:` -> `reminder:` -> `enabled: false` in the shipped rules' layout (comment lines may come between)
_REMINDER_OFF = re.compile(r"(?m)^(  reminder:\n(?:    #.*\n)*(?:    \w+: .*\n)*?    enabled: )false\b")


def with_reminders(rules_text: str) -> str:
    """The rules text with the SLA reminders turned on, everything else (comments too) as written: the
    demo's sandboxes then get reminder tasks, which the shipped rules leave off (they write records people
    see). Rules laid out otherwise are returned as they are."""
    return _REMINDER_OFF.sub(r"\1true  # turned on by `crmsync demo`", rules_text, count=1)


def _report_page(store: StateStore, clock: Clock, path: Path) -> Path:
    """The report `crmsync report` would write on the demo's state store."""
    from sync.insight.served import report_html  # draws charts: imported only when a report is written

    path.write_text(report_html(store, now=clock.now(), since=timedelta(days=90)), encoding="utf-8")
    return path


def _sample(store: StateStore, runners: list[AccountRunner], path: Path) -> Path:
    """Every contact the demo synced, one JSON object a line: what `crmsync rules diff --contacts` measures
    the impact of a rules change on."""
    with path.open("wb") as out:
        for runner in runners:
            after: str | None = None
            while chunk := store.snapshots(_ref(runner), after=after, limit=500):
                for contact, _memory in chunk:
                    out.write(msgspec.json.encode(contact) + b"\n")
                after = chunk[-1][0].id
    return path


def _example(store: StateStore, runners: list[AccountRunner], directory: Path) -> tuple[Path | None, str | None]:
    """A prospect (one whose SLA clock runs, if any) written as JSON for `crmsync rules explain --contact`."""
    for sla in ("running", None):
        for runner in runners:
            ref = _ref(runner)
            ids = store.contact_ids(ref, stage="prospect", sla_status=sla, limit=1)
            if ids:
                [(contact, _memory)] = store.snapshots(ref, ids=ids, limit=1)
                path = directory / f"{ref.crm}-prospect-{ids[0]}.json"
                path.write_bytes(msgspec.json.format(msgspec.json.encode(contact), indent=2))
                return path, f"{ref.crm}/{ids[0]}"
    return None, None
