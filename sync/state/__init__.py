"""The state store: cursors, snapshots, last pushed values, outbox, SLA timers, audit log, run history.

`StateStore` is the only entry point; the records it takes and returns are in `sync.state.records`.
"""

from sync.state.records import (
    CONTACTS_STREAM,
    AccountRef,
    AuditEntry,
    Breach,
    Classification,
    ContactState,
    Decided,
    HealthRecord,
    PageWrite,
    PendingUpdate,
    PushOutcome,
    PushTally,
    Rejection,
    RunRecord,
)
from sync.state.store import StateStore

__all__ = [
    "CONTACTS_STREAM", "AccountRef", "AuditEntry", "Breach", "Classification", "ContactState", "Decided", "HealthRecord", "PageWrite",
    "PendingUpdate", "PushOutcome", "PushTally", "Rejection", "RunRecord", "StateStore",
]
