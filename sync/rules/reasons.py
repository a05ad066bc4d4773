"""The reason written to the CRM with every decision: why this stage, then the three biggest contributors.

One short line a salesperson can read. Whole points only: the reason is written to the CRM, and decayed
points drift every second (a "+6.41" turning "+6.4" would rewrite the field on every run for nothing).
"""

from __future__ import annotations

from typing import Any, Final

from sync.model import ClientKind, DealStatus, Maturity, Stage
from sync.rules.decision import FiredRule
from sync.rules.qualification import CompiledFramework
from sync.rules.scoring import Scorer

# enum members as C statics: on Python 3.11 `Stage.CLIENT` goes through EnumType.__getattr__ every time
_CLIENT: Final = Stage.CLIENT
_DISQUALIFIED: Final = Stage.DISQUALIFIED
_NURTURE: Final = Stage.NURTURE
_PROSPECT: Final = Stage.PROSPECT
_OPEN: Final = DealStatus.OPEN


class ReasonWriter:
    """Writes the reason of one rules version. Safe to share between threads (its memo only grows)."""

    def __init__(self, framework: CompiledFramework, scorers: tuple[Scorer, ...], threshold: int,
                 qualify_on: str, inactive_days: int, top_text: Any) -> None:
        self.framework = framework
        self.fw = framework.name.upper()
        self.threshold = threshold
        self.qualify_on = qualify_on
        self.inactive_days = inactive_days
        # the text of each fixed-point rule, by the identity of its shared FiredRule (alive as long as these
        # rules, so no other object can have its id)
        self.labels = {id(sc.fixed): fixed_label(sc.fixed) for sc in scorers if sc.fixed is not None}
        self.top_text = top_text  # the C evaluator's top_text(fired) (same labels), or None: formatted here
        self._lead_reasons: dict[tuple[int, tuple[str, ...]], str] = {}  # a lead's reason, by score and criteria met

    def write(self, stage: Stage, ruled: Stage, overridden: bool, total: int, framework_met: bool,
              met: tuple[str, ...], maturity: Maturity | None, client_kind: ClientKind | None,
              won: list[Any], deals: Any, disqualified_by: str | None, inactive_days: float | None,
              sticky: bool, fired: list[FiredRule]) -> str:
        """One short line a salesperson can read in the CRM: why this stage, then the biggest contributors."""
        fw = self.fw
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
                    why += f", {fw} met"
            else:
                why = f"prospect: {fw} met ({', '.join(met)})"
        else:
            known = self._lead_reasons.get((total, met))
            if known is None:
                missing = self.framework.missing(met)
                known = f"lead: score {total} < {self.threshold}, {fw} missing {', '.join(missing)}"
                if len(self._lead_reasons) < 4096:  # at most 101 scores x the criteria combinations
                    self._lead_reasons[(total, met)] = known
            why = known
        if overridden:
            why = f"{stage} pinned in the CRM (rules: {why})"
        elif maturity is not None:
            why = why.replace("prospect:", f"prospect ({maturity}):", 1)
        if fired:
            labels = self.labels
            text = self.top_text(fired) if self.top_text is not None else None
            if text is None:
                top = sorted(fired, key=_weight)[:3] if len(fired) > 1 else fired
                # whole points: the reason is written to the CRM, and decayed points drift every second (a
                # "+6.41" turning "+6.4" would rewrite the field on every run for nothing)
                text = ", ".join([labels.get(id(f)) or f"{f.name} {round(f.points):+d}" for f in top])
            why += "; top: " + text
        return why


def fixed_label(fired: FiredRule) -> str:
    """The reason's text for a fixed-points rule: its name and whole points."""
    return f"{fired.name} {round(fired.points):+d}"


def _weight(fired: FiredRule) -> float:
    """Sort key of the reason's top contributors: biggest absolute points first (ties keep rule order)."""
    return -abs(fired.points)


__all__ = ["ReasonWriter", "fixed_label"]
