"""`StandInRules`: a small deterministic stand-in for the rules engine, with its interface (`version`,
`evaluate`, `evaluate_many`, `sla_due_at`) and a handful of fixed rules; `load_rules` reads its few knobs
from YAML. Daemon tests use it so they do not depend on the real engine's scoring; the real engine
(`sync.rules.load_rules`) replaces it by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pydantic

from sync.configfile import load
from sync.model import ClientKind, Contact, Deal, DealStatus, Maturity, Stage
from sync.rules.decision import ContactMemory, Decision, FiredRule, SlaState, SlaStatus

EVENT_POINTS: Mapping[str, int] = {"download": 10, "webinar": 15, "visit": 2, "form": 10, "email_reply": 10,
                                   "trade_show": 10, "demo_request": 40, "pricing_view": 15, "meeting_booked": 35}
INTENT_EVENTS = frozenset({"demo_request", "pricing_view", "meeting_booked"})
SENIORITY_POINTS: Mapping[str, int] = {"c_level": 25, "director": 20, "manager": 10}


@dataclass(frozen=True, slots=True)
class ContactError:
    contact_id: str
    message: str


class StandInRulesFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    version: str = "standin-1"
    threshold: int = pydantic.Field(70, ge=1, le=100)
    sla_hours: float = pydantic.Field(24, gt=0)
    nurture_days: int = pydantic.Field(90, ge=1)
    engagement_days: int = pydantic.Field(90, ge=1)


@dataclass(frozen=True)
class StandInRules:
    """Fixed, documented rules. Fit from seniority and company size (cap 40); engagement from events of the
    last `engagement_days` (cap 40; older events stop counting, so scores move with the clock); intent 10 per
    demo / pricing / meeting event (cap 20). A won deal makes a client; `fields.not_interested` or
    `fields.competitor` disqualifies; `threshold` makes a prospect, which stays one until inactive for
    `nurture_days` (then nurture). The SLA runs `sla_hours` from the hand-off; the owner's first manual
    activity stops it. `fields.rules_error` makes the contact fail evaluation (to test ContactError)."""

    version: str = "standin-1"
    threshold: int = 70
    sla_hours: float = 24
    nurture_days: int = 90
    engagement_days: int = 90

    def sla_due_at(self, started_at: datetime, maturity: Maturity | None = None) -> datetime:
        return started_at + timedelta(hours=self.sla_hours)

    def evaluate_many(self, contacts: Sequence[Contact], now: datetime,
                      memories: Mapping[str, ContactMemory] | None = None) -> list[Decision | ContactError]:
        out: list[Decision | ContactError] = []
        for contact in contacts:
            try:
                out.append(self.evaluate(contact, now, (memories or {}).get(contact.id)))
            except ValueError as exc:
                out.append(ContactError(contact.id, str(exc)))
        return out

    def evaluate(self, contact: Contact, now: datetime, memory: ContactMemory | None = None) -> Decision:
        if contact.fields.get("rules_error"):
            raise ValueError(f"cannot evaluate: {contact.fields['rules_error']}")
        memory = memory or ContactMemory()
        fit = min(40, SENIORITY_POINTS.get(contact.seniority or "", 0) + (15 if (contact.company_size or 0) >= 50
                                                                           else 0))
        recent = [event for event in contact.events if now - timedelta(days=self.engagement_days) <= event.at <= now]
        engagement = min(40, sum(EVENT_POINTS.get(event.type, 0) for event in recent))
        intent_events = [event for event in recent if event.type in INTENT_EVENTS]
        intent = min(20, 10 * len(intent_events))
        score = min(100, fit + engagement + intent)
        last_seen = max([event.at for event in contact.events]
                        + [activity.at for activity in contact.activities], default=None)
        inactive = last_seen is None or now - last_seen > timedelta(days=self.nurture_days)
        won = [deal for deal in contact.deals if deal.status is DealStatus.WON]
        kind = maturity = None
        if won:
            stage = Stage.CLIENT
            kind = ClientKind.RECURRING if any(deal.recurring for deal in won) or len(won) > 1 else ClientKind.ONE_OFF
        elif contact.fields.get("not_interested") or contact.fields.get("competitor"):
            stage = Stage.DISQUALIFIED
        elif (score >= self.threshold or memory.was_prospect) and inactive and memory.was_prospect:
            stage = Stage.NURTURE
        elif score >= self.threshold or (memory.was_prospect and memory.stage is Stage.PROSPECT):
            stage = Stage.PROSPECT
        else:
            stage = Stage.LEAD
        sla, qualified_at = SlaState(), memory.qualified_at
        if stage is Stage.PROSPECT:
            maturity = Maturity.HOT if score >= 90 else Maturity.WARM if score >= 80 else Maturity.COLD
            started = qualified_at or (max(intent_event.at for intent_event in intent_events) if intent_events else now)
            qualified_at = started
            due = self.sla_due_at(started, maturity)
            touch = next((activity for activity in sorted(contact.activities, key=lambda activity: activity.at)
                          if activity.at >= started and activity.done and not activity.automated
                          and activity.by == contact.owner_id), None)
            if touch is not None:
                status = SlaStatus.MET if touch.at <= due else SlaStatus.LATE
            else:
                status = SlaStatus.BREACHED if now > due else SlaStatus.RUNNING
            sla = SlaState(status=status, started_at=started, due_at=due, touched_at=touch.at if touch else None,
                           touched_by=touch.by if touch else None)
        fired = tuple(FiredRule("engagement", event.type, EVENT_POINTS.get(event.type, 0)) for event in recent[:10])
        return Decision(
            crm=contact.crm, account=contact.account, contact_id=contact.id, score=score, fit=fit,
            engagement=engagement, intent=intent, stage=stage, maturity=maturity, client_kind=kind,
            qualified=score >= self.threshold, sla=sla, fired=fired, rules_version=self.version,
            reason=f"score {score} (fit {fit}, engagement {engagement}, intent {intent}): {stage.value}",
            memory=ContactMemory(qualified_at=qualified_at, stage=stage,
                                 was_prospect=memory.was_prospect or stage is Stage.PROSPECT),
        )


def load_rules(path: str | Path | None = None) -> StandInRules:
    """The stand-in's `load_rules`: None gives the defaults; a file sets the knobs (raises ConfigError)."""
    if path is None:
        return StandInRules()
    return StandInRules(**load(path, StandInRulesFile).model_dump())


def won_deal(deal_id: str, *, at: datetime, recurring: bool = True) -> Deal:
    """A closed-won deal, for tests that make a client."""
    return Deal(id=deal_id, status=DealStatus.WON, recurring=recurring, created_at=at, updated_at=at)
