"""The reason written to the CRM with every decision: why this stage, then the three biggest contributors.

One short line a salesperson can read. Whole points only: the reason is written to the CRM, and decayed
points drift every second (a "+6.41" turning "+6.4" would rewrite the field on every run for nothing).
"""

from __future__ import annotations

from typing import Any

from sync.model import ClientKind, DealStatus, Maturity, Stage
from sync.rules.decision import FiredRule
from sync.rules.qualification import CompiledFramework
from sync.rules.scoring import Scorer

# enum members as module constants: on Python 3.11 `Stage.CLIENT` goes through EnumType.__getattr__ every time
_CLIENT = Stage.CLIENT
_DISQUALIFIED = Stage.DISQUALIFIED
_NURTURE = Stage.NURTURE
_PROSPECT = Stage.PROSPECT
_OPEN = DealStatus.OPEN


class ReasonWriter:
    """Writes the reason of one rules version. Safe to share between threads (its memo only grows)."""

    def __init__(self, framework: CompiledFramework, scorers: tuple[Scorer, ...], threshold: int,
                 qualify_on: str, inactive_days: int) -> None:
        self.framework = framework
        self.framework_name = framework.name.upper()
        self.threshold = threshold
        self.qualify_on = qualify_on
        self.inactive_days = inactive_days
        # the text of each fixed-point rule, by the identity of its shared FiredRule (alive as long as these
        # rules, so no other object can have its id)
        self.labels = {id(scorer.fixed): fixed_label(scorer.fixed) for scorer in scorers if scorer.fixed is not None}
        self._lead_reasons: dict[tuple[int, tuple[str, ...]], str] = {}  # a lead's reason, by score and criteria met

    def write(self, stage: Stage, ruled: Stage, overridden: bool, total: int, framework_met: bool,
              met: tuple[str, ...], maturity: Maturity | None, client_kind: ClientKind | None,
              won: list[Any], deals: Any, disqualified_by: str | None, inactive_days: float | None,
              sticky: bool, fired: list[FiredRule]) -> str:
        """One short line a salesperson can read in the CRM: why this stage, then the biggest contributors."""
        framework_name = self.framework_name
        if ruled is _CLIENT:
            why = f"client ({client_kind}): {len(won)} won deal{'s' if len(won) > 1 else ''}"
            if any(deal.status == _OPEN for deal in deals):
                why += ", upsell deal open"
        elif ruled is _DISQUALIFIED:
            why = f"disqualified: {disqualified_by}"
        elif ruled is _NURTURE:
            why = f"nurture: no activity for {int(inactive_days or 0)} days (> {self.inactive_days})"
        elif ruled is _PROSPECT:
            if sticky:
                why = f"prospect: still active since qualifying (score {total} < {self.threshold})"
            elif total >= self.threshold and self.qualify_on != "framework":
                why = f"prospect: score {total} >= {self.threshold}"
                if framework_met:
                    why += f", {framework_name} met"
            else:
                why = f"prospect: {framework_name} met ({', '.join(met)})"
        else:
            known = self._lead_reasons.get((total, met))
            if known is None:
                missing = self.framework.missing(met)
                known = f"lead: score {total} < {self.threshold}, {framework_name} missing {', '.join(missing)}"
                if len(self._lead_reasons) < 4096:  # at most 101 scores x the criteria combinations
                    self._lead_reasons[(total, met)] = known
            why = known
        if overridden:
            why = f"{stage} pinned in the CRM (rules: {why})"
        elif maturity is not None:
            why = why.replace("prospect:", f"prospect ({maturity}):", 1)
        if fired:
            labels = self.labels
            top = sorted(fired, key=_weight)[:3] if len(fired) > 1 else fired
            # whole points: the reason is written to the CRM, and decayed points drift every second (a
            # "+6.41" turning "+6.4" would rewrite the field on every run for nothing)
            why += "; top: " + ", ".join([labels.get(id(rule)) or f"{rule.name} {round(rule.points):+d}"
                                          for rule in top])
        return why


def fixed_label(fired: FiredRule) -> str:
    """The reason's text for a fixed-points rule: its name and whole points."""
    return f"{fired.name} {round(fired.points):+d}"


def _weight(fired: FiredRule) -> float:
    """Sort key of the reason's top contributors: biggest absolute points first (ties keep rule order)."""
    return -abs(fired.points)


__all__ = ["ReasonWriter", "fixed_label"]
