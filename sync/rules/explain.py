"""A Decision as a breakdown an admin can read (or JSON for machines): which rule gave how many points,
how each dimension was capped, which criteria are met, and where the SLA clock stands."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import msgspec

from sync.model import Contact
from sync.rules.decision import Decision, SlaStatus
from sync.rules.engine import CompiledRules
from sync.rules.scoring import DIMENSIONS

_HANDOFF = {
    "marketing": " (a marketing signal)",
    "sales": " (sales found it: met at hand-off)",
    "first_seen": " (first seen qualifying: no dated signal)",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(decision: Decision, rules: CompiledRules, contact: Contact | None = None,
           now: datetime | None = None) -> str:
    lines: list[str] = []
    who = f"{decision.crm}/{decision.account}/{decision.contact_id}"
    if contact is not None:
        name = " ".join(part for part in (contact.first_name, contact.last_name) if isinstance(part, str))
        role = " at ".join(part for part in (contact.job_title, contact.company) if isinstance(part, str))
        who += "".join(f" · {part}" for part in (name, role) if part)
    lines.append(f"contact   {who}")
    lines.append(f"rules     {rules.version} ({rules.source})" + (f" at {_when(now)}" if now else ""))
    stage = str(decision.stage)
    if decision.maturity is not None:
        stage += f" ({decision.maturity})"
    if decision.client_kind is not None:
        stage += f" ({decision.client_kind})"
    if decision.overridden:
        stage += "  [pinned in the CRM: wins over the rules]"
    lines.append(f"stage     {stage}")
    if contact is not None and rules.history.title_levels is not None and not (
            isinstance(contact.seniority, str) and contact.seniority.strip()):
        level = rules.history.title_levels(contact.job_title)
        if level is not None:
            lines.append(f"seniority {level} (from the job title; the CRM gives none)")
    lines.append(f"score     {decision.score} / 100   (prospect at {rules.threshold})")
    for index, dimension in enumerate(DIMENSIONS):
        fired = [rule for rule in decision.fired if rule.dimension == dimension]
        raw = sum(rule.points for rule in fired)
        value = getattr(decision, dimension)
        cap = int(rules.caps[index])
        note = f"   (rules add up to {raw:g}, capped to 0..{cap})" if round(raw) != value else ""
        lines.append(f"  {dimension:<11} {value:>3} / {cap}{note}")
        for rule in fired:
            lines.append(f"      {rule.points:>+7.2f}  {rule.name}")
    framework = rules.framework
    marks = "  ".join(f"{name} {'yes' if name in decision.criteria_met else 'no'}"
                      + ("" if name in framework.required else " (optional)") for name, _ in framework.criteria)
    lines.append(f"{framework.name.upper():<9} {'met' if decision.qualified else 'not met'}: {marks}")
    sla = decision.sla
    if sla.status is SlaStatus.NOT_STARTED:
        lines.append("SLA       not started (not a prospect)")
    else:
        text = f"SLA       {sla.status}: handed off {_when(sla.started_at)}{_HANDOFF.get(sla.handoff or '', '')}, " \
               f"due {_when(sla.due_at)}"
        if sla.touched_at is not None:
            text += f", first touch {_when(sla.touched_at)} by {sla.touched_by}"
        if sla.status is SlaStatus.LATE and sla.due_at is not None and sla.touched_at is not None:
            late = rules.sla.calendar.business_hours_between(sla.due_at, sla.touched_at)
            text += f" ({late:.1f} business hours late)"
        lines.append(text)
    lines.append(f"reason    {decision.reason}")
    return "\n".join(lines)


def as_json(decision: Decision) -> str:
    data: Any = msgspec.to_builtins(decision)
    data["fired"] = [{"dimension": dimension, "name": name, "points": points}
                     for dimension, name, points in data["fired"]]
    return json.dumps(data, indent=2, ensure_ascii=False)


__all__ = ["as_json", "render"]
