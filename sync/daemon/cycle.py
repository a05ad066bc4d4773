"""One sync cycle of one CRM account: `run_cycle(...) -> RunSummary`.

1. Drain the outbox: writes decided by an earlier run that stopped before pushing them.
2. Pull changes since the cursor, page by page; per page: decide, diff against the last pushed values,
   make snapshots + decisions + outbox + the page's cursor durable in one transaction, push the outbox.
3. Rescore from snapshots every contact decided by another rules version (the rules changed).
The stop event is checked between pages and between push batches. Errors end the run with an outcome
(`PARKED` on a spent daily budget, `FAILED` otherwise) and never escape: one account's failure never
affects another. Every log line carries crm, account, run_id and the counts so far.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from sync.clock import Clock
from sync.contract import Connector, PullPage, ReconcilesDeletions
from sync.daemon import problem_records
from sync.daemon.engine import AccountSync, Plan, ProgressCallback, RulesProvider, RunOptions, Stopped
from sync.daemon.report import RunOutcome, RunSummary
from sync.errors import AuthExpired, AuthFailed, ConfigError, CrmsyncError, RateLimited
from sync.log import bind_run, unbind_run
from sync.state import StateStore
from sync.state.leases import LeaseLost
from sync.state.problems import classify_store_error


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def guarded(sync_: AccountSync, body: Callable[[], None]) -> RunSummary:
    """Run `body`, turning every error into the run's outcome; always returns the finished summary."""
    summary = sync_.summary
    try:
        body()
    except Stopped:
        summary.outcome = RunOutcome.INTERRUPTED
        sync_.event("run_interrupted")
    except LeaseLost as exc:  # another replica owns the account now: it resumes from the durable state
        summary.outcome = RunOutcome.INTERRUPTED
        summary.lease_lost = True
        sync_.log.warning("run_lease_lost", reason=exc.why, **summary.counts())
    except RateLimited as exc:
        summary.rate_limited += 1
        summary.errors.append(exc.user_message)
        if exc.scope == "daily":
            summary.outcome = RunOutcome.PARKED
            summary.retry_at = sync_.clock.now() + timedelta(seconds=exc.retry_after)
            sync_.event("run_parked", retry_at=summary.retry_at.isoformat(), message=exc.user_message)
        else:
            summary.outcome = RunOutcome.FAILED
            sync_.event("run_failed", error="RateLimited", message=exc.user_message)
    except (AuthFailed, AuthExpired) as exc:
        summary.outcome = RunOutcome.FAILED
        summary.errors.append(f"{sync_.ref.crm} account {sync_.ref.account!r}: authorisation failed: "
                              f"{exc.user_message}. Check its credentials; the account stays stopped until then.")
        sync_.log.error("run_failed", error=type(exc).__name__, message=exc.user_message, **summary.counts())
    except ConfigError as exc:
        summary.outcome = RunOutcome.FAILED
        summary.errors.append(f"rules not usable: {exc.user_message}")
        sync_.log.error("run_failed", error="ConfigError", message=exc.user_message, **summary.counts())
    except CrmsyncError as exc:
        summary.outcome = RunOutcome.FAILED
        summary.errors.append(exc.user_message)
        sync_.log.error("run_failed", error=type(exc).__name__, message=exc.user_message, **summary.counts())
    except Exception as exc:  # one account's bug must not take the daemon down; the traceback goes to the log
        summary.outcome = RunOutcome.FAILED
        if not _store_failed(sync_, exc):
            summary.errors.append(f"internal error ({type(exc).__name__}); see the log of run {summary.run_id}")
            sync_.log.exception("run_failed", error=type(exc).__name__, **summary.counts())
    try:
        sync_.finish()
    except Exception as exc:  # the store failed again while closing the run: say why, keep the summary
        if not _store_failed(sync_, exc):
            raise
        summary.outcome = RunOutcome.FAILED
        summary.finished_at = summary.finished_at or sync_.clock.now()
    return summary


def _store_failed(sync_: AccountSync, exc: Exception) -> bool:
    """Record a state-store failure (disk full, read-only, a lock wait past its timeout...) as such, not as a
    bug; False when `exc` is not the store's."""
    summary = sync_.summary
    url = getattr(getattr(sync_.store, "engine", None), "url", None)
    problem = classify_store_error(exc, url) if url is not None else None
    if problem is None:
        return False
    summary.store_problem = problem.kind.value
    if problem.message not in summary.errors:
        summary.errors.append(problem.message)
    sync_.log.error("run_failed", error="StateStoreUnavailable", store_problem=problem.kind.value,
                    message=problem.message, **summary.counts())
    return True


def record_run(store: StateStore, summary: RunSummary, kind: str) -> None:
    """Keep the run in the store's history; a store that cannot take it (the failure the run itself met,
    often) is logged, and the run's summary still reaches the scheduler, the metrics and the log."""
    try:
        store.record_run(summary, kind)
    except Exception as exc:
        problem = classify_store_error(exc, store.engine.url)
        if problem is None:
            raise
        structlog.get_logger("crmsync.sync").error(
            "run_not_recorded", crm=summary.crm, account=summary.account, run_id=summary.run_id,
            store_problem=problem.kind.value, message=problem.message)


def _page_lag(page: PullPage, now: datetime) -> float | None:
    stamps = [c.updated_at for c in page.contacts if c.updated_at is not None]
    return max((now - max(stamps)).total_seconds(), 0.0) if stamps else None


def pull_changes(sync_: AccountSync, cursor: str | None, *, since: datetime | None = None,
                 advance_cursor: bool = True) -> None:
    """Pull from `cursor`, deciding and committing page by page; the cursor moves with each durable page."""
    if isinstance(sync_.connector, ReconcilesDeletions):  # it reads them only on the pulls that compare
        sync_.connector.use_managed_ids(lambda: sync_.store.managed_ids(sync_.ref))
    for page in sync_.connector.pull(cursor):
        contacts = page.contacts
        if since is not None:
            contacts = [c for c in contacts if c.updated_at is None or c.updated_at >= since]
        sync_.summary.pulled += len(page.contacts)
        tombstones: dict[str, str | None] = {cid: page.merged_into.get(cid) for cid in page.deleted_ids}
        sync_.summary.deleted += len(tombstones)
        if sync_.plan is None:  # before the page: a crash in between records the same problems again
            problem_records.record_page(sync_.store, sync_.ref, page, run_id=sync_.summary.run_id,
                                        now=sync_.clock.now())
        sync_.decide(contacts, tombstones=tombstones, cursor=page.cursor, advance_cursor=advance_cursor,
                     related_complete=page.related_complete)
        sync_.summary.cursor_lag_seconds = _page_lag(page, sync_.clock.now())
        sync_.event("page_committed", page_contacts=len(page.contacts), page_deleted=len(tombstones),
                    page_problems=len(page.problems),
                    page_records_with_problems=len({(p.object_type, p.record_id) for p in page.problems}))
        sync_.crm_values = problem_records.known_crm_values(page)  # what this page's pushes need not read
        try:
            sync_.push_pending()
        finally:
            sync_.crm_values = {}
    sync_.summary.cursor_lag_seconds = 0.0  # caught up: every change up to the pull's start is durable


def start(connector: Connector, *, store: StateStore, rules: RulesProvider, clock: Clock, stop: threading.Event,
          options: RunOptions, run_id: str | None, progress: ProgressCallback | None,
          plan: Plan | None) -> AccountSync:
    """Open a run: the rules in force are taken once, so a hot reload applies from the next run on."""
    compiled = rules()
    summary = RunSummary(crm=connector.crm, account=connector.account, run_id=run_id or new_run_id(),
                         started_at=clock.now(), rules_version=compiled.version)
    sync_ = AccountSync(store=store, connector=connector, rules=compiled, clock=clock, stop=stop, summary=summary,
                        options=options, progress=progress, plan=plan)
    bind_run(crm=connector.crm, account=connector.account, run_id=summary.run_id, counts=summary.counts)
    return sync_


def run_cycle(*, store: StateStore, connector: Connector, rules: RulesProvider, clock: Clock,
              stop: threading.Event | None = None, options: RunOptions | None = None, run_id: str | None = None,
              progress: ProgressCallback | None = None, record: bool = True) -> RunSummary:
    """One incremental sync of one account. `rules` is called once per cycle (hot reload)."""
    stop = stop or threading.Event()
    try:
        sync_ = start(connector, store=store, rules=rules, clock=clock, stop=stop, options=options or RunOptions(),
                      run_id=run_id, progress=progress, plan=None)
    except ConfigError as exc:
        return failed_to_start(connector, clock, run_id, f"rules not usable: {exc.user_message}", store,
                               "cycle" if record else None)
    try:
        sync_.event("run_started", kind="cycle")

        def body() -> None:
            sync_.push_pending()
            pull_changes(sync_, store.cursor(sync_.ref))
            sync_.rescore(not_version=sync_.rules.version)

        summary = guarded(sync_, body)
        if record and not summary.lease_lost:  # a replica that lost the account writes nothing more
            record_run(store, summary, "cycle")
        sync_.event("run_finished", outcome=summary.outcome.value, fields_written=summary.fields_written,
                    breaches_open=summary.breaches_open)
        return summary
    finally:
        unbind_run()


def failed_to_start(connector: Connector, clock: Clock, run_id: str | None, message: str, store: StateStore,
                    kind: str | None) -> RunSummary:
    """The run could not even start (the rules provider failed): a FAILED summary, recorded as `kind`."""
    now = clock.now()
    summary = RunSummary(crm=connector.crm, account=connector.account, run_id=run_id or new_run_id(),
                         started_at=now, finished_at=now, outcome=RunOutcome.FAILED, errors=[message])
    structlog.get_logger("crmsync.sync").error("run_failed", crm=connector.crm, account=connector.account,
                                                run_id=summary.run_id, message=message, **summary.counts())
    if kind is not None:
        record_run(store, summary, kind)
    return summary
