"""On-demand resync of one account: everything (`full`), changes since a date, one contact, or a dry run
that shows the field-level diff it would push and writes nothing, neither to the store nor to the CRM.

`since` cannot be expressed as an opaque cursor in general: a connector that offers `cursor_since(date)`
is asked for one; otherwise the whole account is pulled and contacts changed before the date are ignored.
Either way a `since` resync never moves the stored cursor (changes older than the date that the cursor
has not reached yet would be skipped); a `full` one does, since it has seen everything.

On a PostgreSQL store the caller runs it under the account's lease (`sync.daemon.resync_lease`), so its writes are
fenced like a replica's run: once the lease is taken from it, it stops and records nothing more.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sync.clock import Clock
from sync.contract import Connector
from sync.daemon.cycle import guarded, pull_changes, start
from sync.daemon.engine import Plan, ProgressCallback, RulesProvider, RunOptions
from sync.daemon.report import RunOutcome, RunSummary
from sync.log import unbind_run
from sync.state import StateStore


@dataclass(frozen=True, slots=True)
class ResyncRequest:
    full: bool = False
    since: datetime | None = None
    contact: str | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class ResyncResult:
    summary: RunSummary
    plan: Plan | None  # the diff, for a dry run


def run_resync(*, store: StateStore, connector: Connector, rules: RulesProvider, clock: Clock,
               request: ResyncRequest, stop: threading.Event | None = None, options: RunOptions | None = None,
               progress: ProgressCallback | None = None) -> ResyncResult:
    plan = Plan() if request.dry_run else None
    sync_ = start(connector, store=store, rules=rules, clock=clock, stop=stop or threading.Event(),
                  options=options or RunOptions(), run_id=None, progress=progress, plan=plan)
    try:
        sync_.event("run_started", kind="resync", full=request.full, dry_run=request.dry_run,
                    since=request.since.isoformat() if request.since else None, contact=request.contact)

        def body() -> None:
            if request.contact is not None:
                if not store.is_managed(sync_.ref, request.contact):
                    sync_.summary.outcome = RunOutcome.FAILED
                    sync_.summary.errors.append(f"contact {request.contact} is not known for account "
                                                f"{sync_.ref.account}: run a resync without --contact first")
                    return
                sync_.rescore(ids=[request.contact])
                return
            sync_.push_pending()
            if request.since is not None:
                since_cursor = getattr(connector, "cursor_since", None)
                if callable(since_cursor):
                    pull_changes(sync_, since_cursor(request.since), advance_cursor=False)
                else:
                    pull_changes(sync_, None, since=request.since, advance_cursor=False)
            else:
                pull_changes(sync_, None if request.full else store.cursor(sync_.ref))
            sync_.rescore(not_version=sync_.rules.version)

        summary = guarded(sync_, body)
        if plan is None and not summary.lease_lost:  # a resync whose lease was taken writes nothing more
            store.record_run(summary, "resync")
        sync_.event("run_finished", kind="resync", outcome=summary.outcome.value,
                    fields_written=summary.fields_written, planned=len(plan.entries) if plan else None)
        return ResyncResult(summary, plan)
    finally:
        unbind_run()
