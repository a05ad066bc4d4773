"""What the rules engine decides about one contact, and how that becomes canonical CRM fields.

A `Decision` is a pure function of (contact, rules, clock, memory): the same
inputs always give the same Decision. `ContactMemory` is the little the engine
needs from the past that the CRM data alone does not say (when crmsync first
saw the contact qualify, what stage it last had); the state store keeps it.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from sync.contract import CanonicalField, FieldValue
from sync.model import ClientKind, Maturity, Stage


class SlaStatus(enum.StrEnum):
    NOT_STARTED = "not_started"  # not a prospect (or no SLA applies)
    RUNNING = "running"  # due time ahead, no sales touch yet
    MET = "met"  # touched before the due time
    BREACHED = "breached"  # due time passed, no touch: the flag is set
    LATE = "late"  # touched after the due time: flag cleared, lateness kept for reporting


# gc=False on the four result types: they hold only immutable values (never a reference cycle), and a sync
# run keeps a page or a whole cycle of Decisions alive; tracked, each would make the collector walk every
# live contact again and again (about a fifth of the evaluation time of a 50k batch).
class SlaState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    status: SlaStatus = SlaStatus.NOT_STARTED
    started_at: datetime | None = None  # the hand-off: when the contact became a prospect
    due_at: datetime | None = None
    touched_at: datetime | None = None  # first qualifying sales touch after the hand-off
    touched_by: str | None = None
    # how the hand-off was dated: "marketing" (a marketing signal), "sales" (sales found the prospect itself:
    # met at hand-off), "first_seen" (qualified from undated data: when crmsync first saw it)
    handoff: str | None = None

    @property
    def breached(self) -> bool:
        return self.status is SlaStatus.BREACHED


class FiredRule(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One rule that matched: its dimension (fit / engagement / intent), name, and the points it gave
    (after decay, before the dimension cap)."""

    dimension: str
    name: str
    points: float


class ContactMemory(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    qualified_at: datetime | None = None  # the hand-off of the current prospect streak (the SLA clock's start)
    stage: Stage | None = None  # stage of the previous decision
    was_prospect: bool = False  # ever been a prospect (nurture applies to former prospects only)
    handoff: str | None = None  # how qualified_at was dated (SlaState.handoff); None: by an earlier version
    # the maturity the prospect had at qualified_at, which sets the SLA's response time (None: not known yet,
    # worked out again from the history)
    handoff_maturity: Maturity | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    crm: str
    account: str
    contact_id: str
    score: int  # 0..100
    fit: int
    engagement: int
    intent: int
    stage: Stage
    overridden: bool = False  # a person pinned the stage in the CRM
    maturity: Maturity | None = None  # prospects only
    client_kind: ClientKind | None = None  # clients only
    framework: str = "bant"
    criteria_met: tuple[str, ...] = ()
    qualified: bool = False  # the framework's qualification is met
    sla: SlaState = SlaState()
    fired: tuple[FiredRule, ...] = ()
    reason: str = ""
    rules_version: str = ""
    memory: ContactMemory = ContactMemory()  # what to remember for the next evaluation

    def to_fields(self) -> dict[str, FieldValue]:
        """The canonical fields crmsync writes back for this decision. Absent maturity / client kind / due
        time are written as None so a stale value is cleared in the CRM."""
        return {
            CanonicalField.SCORE.value: self.score,
            CanonicalField.SCORE_FIT.value: self.fit,
            CanonicalField.SCORE_ENGAGEMENT.value: self.engagement,
            CanonicalField.SCORE_INTENT.value: self.intent,
            CanonicalField.STAGE.value: self.stage.value,
            CanonicalField.MATURITY.value: self.maturity.value if self.maturity else None,
            CanonicalField.CLIENT_KIND.value: self.client_kind.value if self.client_kind else None,
            CanonicalField.CRITERIA_MET.value: ";".join(self.criteria_met),
            CanonicalField.SLA_STATUS.value: self.sla.status.value,
            CanonicalField.SLA_DUE_AT.value: self.sla.due_at,
            CanonicalField.SLA_BREACHED.value: self.sla.breached,
            CanonicalField.REASON.value: self.reason[:250],
            CanonicalField.RULES_VERSION.value: self.rules_version,
        }
