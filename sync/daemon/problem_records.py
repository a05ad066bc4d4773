"""What a run does with the records a connector could not read or the CRM refused, and with the setup
problems a connector reports: keep them in the state store (`sync.state.record_problems`), log counts and
ids, never values, and hand the pushes the CRM values the same run pulled.

- A pull page's `problems` are recorded per record and field; the records the page read cleanly clear
  their earlier pull problems (a record that became readable is picked up normally).
- A push the CRM refuses for good is recorded with the CRM's message (in the store only: the log line
  says the record id and the error code); a push the CRM takes, or a record gone from it, clears it.
- The native values a page's contacts carry (`Contact.crm_values`) go with their pushes in this run, so a
  connector does not read them again; a value whose field the page could not read is left out (unknown).
- Setup warnings are stored whenever they change; each new one is logged once as a WARNING.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from sync.contract import (
    Connector,
    FieldSetupReport,
    FieldValue,
    PullPage,
    PushResult,
    ReportsSetupWarnings,
    SetupWarning,
)
from sync.state import AccountRef, PendingUpdate, StateStore
from sync.state.record_problems import PULL, PUSH, PUSHED_OBJECT, NewProblem, ReadCleanly
from sync.state.records import rejected_for_good

log = structlog.get_logger("crmsync.sync")


def read_cleanly(page: PullPage) -> ReadCleanly:
    """The records of a page with no problem reported for them, by kind."""
    troubled = {problem.record_id for problem in page.problems}
    contacts = {c.id for c in page.contacts} - troubled
    deals = {deal.id for c in page.contacts for deal in c.deals} - troubled
    activities = {a.id for c in page.contacts for a in c.activities if a.id} - troubled
    return ReadCleanly(frozenset(contacts), frozenset(deals), frozenset(activities))


def known_crm_values(page: PullPage) -> dict[str, dict[str, FieldValue]]:
    """Per contact of the page, the native values it was read with, less those of fields the page could
    not read (or of records it skipped): an unreadable value is unknown, not blank."""
    unreadable = {(p.record_id, p.field) for p in page.problems}
    return {c.id: {name: value for name, value in c.crm_values.items()
                   if (c.id, name) not in unreadable and (c.id, None) not in unreadable}
            for c in page.contacts if c.crm_values}


def record_page(store: StateStore, ref: AccountRef, page: PullPage, *, run_id: str, now: datetime) -> None:
    """Keep the page's problems and forget those of the records it read cleanly. Idempotent: a page read
    again after a crash records the same rows."""
    ledger = store.record_problems
    ledger.record(ref, PULL, [NewProblem(p.object_type, p.record_id, p.field, p.reason) for p in page.problems],
                  run_id=run_id, now=now)
    ledger.clear_read(ref, read_cleanly(page))


def record_pushes(store: StateStore, ref: AccountRef, batch: Sequence[PendingUpdate],
                  results: Sequence[PushResult], *, max_attempts: int, run_id: str, now: datetime) -> None:
    """Keep the records the CRM refused for good (with its message), forget those it took or lost."""
    refused: list[NewProblem] = []
    settled: list[str] = []
    for pending, result in zip(batch, results):
        if result.ok or result.gone:
            settled.append(result.contact_id)
        elif rejected_for_good(result.error, pending.attempts, max_attempts):
            error = result.error
            fields = ";".join(error.fields) if error is not None and error.fields else None
            refused.append(NewProblem(PUSHED_OBJECT, result.contact_id, fields,
                                      error.message if error is not None else "the CRM gave no reason",
                                      code=error.code if error is not None else None))
    ledger = store.record_problems
    ledger.record(ref, PUSH, refused, run_id=run_id, now=now)
    if settled:
        ledger.clear_pushed(ref, settled)


def reported_warnings(connector: Connector, report: FieldSetupReport | None = None) -> list[SetupWarning] | None:
    """The setup warnings that hold now: those of the field setup and those the connector found since.
    None when the connector says nothing about them (then the stored ones stay as they are)."""
    found: list[SetupWarning] = list(report.warnings) if report is not None else []
    if isinstance(connector, ReportsSetupWarnings):
        found += [w if isinstance(w, SetupWarning) else SetupWarning(str(w), "", "")
                  for w in connector.setup_warnings]
    elif report is None:
        return None
    return sorted(set(found))


def record_setup_warnings(store: StateStore, connector: Connector, *, now: datetime,
                          report: FieldSetupReport | None = None, run_id: str | None = None) -> int | None:
    """Store the connector's setup warnings as they stand; log each one not stored before as a WARNING.
    Returns how many hold (None: the connector does not report them)."""
    warnings = reported_warnings(connector, report)
    if warnings is None:
        return None
    new = store.record_problems.replace_warnings(AccountRef(connector.crm, connector.account), warnings, now=now)
    for warning in new:
        log.warning("setup_warning", crm=connector.crm, account=connector.account, run_id=run_id,
                    what=warning.what, lost=warning.lost, enable=warning.enable)
    return len(warnings)


def open_counts(store: StateStore, ref: AccountRef) -> dict[str, int]:
    """Records with problems now, by source (both sources always present: a gauge must fall back to 0)."""
    counts = store.record_problems.counts(ref).get(ref)
    return {source: (counts or {}).get(source, 0) for source in (PULL, PUSH)}
