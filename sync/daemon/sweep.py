"""Time-driven work: decisions that change because the clock moved, not because the CRM did.

`run_sweep` re-decides, from their snapshots, the contacts whose `next_review_at` has passed: an SLA due
time (so a breach is flagged in the CRM even though the contact did not change), a prospect's periodic
review (so the inactivity window moves it to nurture). A touch logged afterwards reaches us through the
normal pull and clears the flag. Then the SLA reminders and escalations due are written into the CRM
(`sync.reminders`). `full=True` is the periodic full rescore: engagement decays with time,
so every score is time-dependent. Either way the outbox is drained too, and the run is recorded.
"""

from __future__ import annotations

import threading

from sync.clock import Clock
from sync.contract import Connector
from sync.daemon.cycle import failed_to_start, guarded, record_run, start
from sync.daemon.engine import ProgressCallback, RulesProvider, RunOptions
from sync.daemon.report import RunSummary
from sync.errors import ConfigError
from sync.log import unbind_run
from sync.reminders.run import run_reminders
from sync.state import StateStore


def run_sweep(*, store: StateStore, connector: Connector, rules: RulesProvider, clock: Clock,
              stop: threading.Event | None = None, options: RunOptions | None = None, full: bool = False,
              run_id: str | None = None, progress: ProgressCallback | None = None) -> RunSummary:
    """Re-decide the contacts due for review (or all of them with `full`) and push what changes.
    Must not run at the same time as a cycle of the same account (see `AccountRunner`)."""
    stop = stop or threading.Event()
    kind = "rescore" if full else "sweep"
    try:
        sync_ = start(connector, store=store, rules=rules, clock=clock, stop=stop, options=options or RunOptions(),
                      run_id=run_id, progress=progress, plan=None)
    except ConfigError as exc:
        return failed_to_start(connector, clock, run_id, f"rules not usable: {exc.user_message}", store, kind)
    try:
        sync_.event("run_started", kind=kind)

        def body() -> None:
            sync_.push_pending()
            sync_.rescore(due_by=None if full else clock.now())
            run_reminders(sync_)  # the clocks are current now: reminders and escalations due, once each

        summary = guarded(sync_, body)
        if not summary.lease_lost:  # a replica that lost the account writes nothing more
            record_run(store, summary, kind)
        sync_.event("run_finished", kind=kind, outcome=summary.outcome.value, fields_written=summary.fields_written,
                    breaches_open=summary.breaches_open, **summary.reminder_counts())
        return summary
    finally:
        unbind_run()
