"""The compiled rules: one object the daemon loads once and calls for every contact.

`load_rules` validates the YAML (every problem located), then compiles it;
`CompiledRules.evaluate` is a pure function of (contact, now, memory). Per
contact it reads the history once (`history`), runs the scorers and the
qualification criteria (`assessment`), classifies, and times the SLA. Nothing
is cached across contacts.

Precedence of stages, first match wins:
  1. a stage pinned in the CRM (`override_stage`), reported as overridden;
  2. client: at least one won deal (a fact outranks every inference);
  3. disqualified: a disqualification condition holds (named in the reason);
  4. nurture: a former prospect, or a contact that qualifies, with no activity for `nurture.inactive_days`;
  5. prospect: qualifies (score at the threshold, or the framework met, per `prospect.qualify_on`), or was a
     prospect last time and is still active (`prospect.keep_while_active`);
  6. lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec

from sync.configfile import parse_yaml, read_yaml
from sync.errors import CrmsyncError
from sync.model import ClientKind, Contact, DealStatus, Maturity, Stage
from sync.rules import schema
from sync.rules.assessment import Assessor
from sync.rules.badinput import diagnose
from sync.rules.checks import roots
from sync.rules.conditions import Compiler, shared_references
from sync.rules.context import DAY, Plan
from sync.rules.count_conditions import deal_is_recurring
from sync.rules.decision import ContactMemory, Decision, FiredRule, SlaState
from sync.rules.handoff import HandoffFinder
from sync.rules.history import HistoryReader, aware
from sync.rules.loading import default_rules_path, parse_rules, rules_version
from sync.rules.qualification import compile_framework
from sync.rules.reasons import ReasonWriter
from sync.rules.references import nodes, reference_graph, score_testing
from sync.rules.scoring import DIMENSIONS, compile_scoring
from sync.rules.sla import FIRST_SEEN, SlaPolicy
from sync.rules.titles import compile_title_levels

UTC = timezone.utc
_NO_MEMORY = ContactMemory()
_NOT_STARTED = SlaState()
_NO_DEALS: list[Any] = []  # shared empty list for contacts without deals (never mutated)

# enum members as module constants: on Python 3.11 `Stage.PROSPECT` goes through EnumType.__getattr__
_CLIENT = Stage.CLIENT
_DISQUALIFIED = Stage.DISQUALIFIED
_NURTURE = Stage.NURTURE
_PROSPECT = Stage.PROSPECT
_LEAD = Stage.LEAD
_HOT = Maturity.HOT
_WARM = Maturity.WARM
_COLD = Maturity.COLD
_RECURRING = ClientKind.RECURRING
_ONE_OFF = ClientKind.ONE_OFF
_WON = DealStatus.WON
_BAD_DATA = (TypeError, AttributeError, ValueError, OverflowError, KeyError, IndexError, OSError, RecursionError)


class ContactError(msgspec.Struct, frozen=True):
    """One contact the engine could not evaluate, and why; the rest of the batch is unaffected."""

    contact_id: str
    message: str
    crm: str = ""
    account: str = ""


class InvalidContact(CrmsyncError):
    """Raised by `evaluate` for a contact whose data cannot be evaluated (a record error: skip and report)."""

    def __init__(self, contact_id: str, message: str) -> None:
        super().__init__(f"contact {contact_id}: {message}")
        self.contact_id = contact_id
        self.message = message


def load_rules(path: str | Path | None = None) -> CompiledRules:
    """Load, validate and compile a rules file (None: the shipped default). Raises sync.errors.ConfigError with
    every problem located as PATH:LINE:COL."""
    path = default_rules_path() if path is None else path
    return CompiledRules(parse_rules(read_yaml(path)), source=str(path))


def rules_from_text(text: str, path: str = "<rules>") -> CompiledRules:
    return CompiledRules(parse_rules(parse_yaml(text, path)), source=path)


class CompiledRules:
    """Rules compiled into closures. Immutable after construction (apart from memos that only grow); safe to
    share between threads that each call `evaluate` (every call builds its own context)."""

    def __init__(self, spec: schema.RulesFile, source: str = "<rules>") -> None:
        self.spec = spec
        self.source = source
        self.version = rules_version(spec)
        classification = spec.classification
        self.plan = Plan(team=frozenset(spec.sla.touch.team),
                         recurring_months=classification.client.recurring_min_contract_months)
        compiler = Compiler(spec.conditions, self.plan, spec.qualification.timing_horizon_months,
                            shared_references(condition for _, condition, _ in roots(spec)))
        self.scorers = compile_scoring(spec.scoring, compiler)
        self.caps = tuple(float(getattr(spec.scoring, dimension).cap) for dimension in DIMENSIONS)
        self.threshold = spec.scoring.threshold
        self.framework = compile_framework(spec.qualification, compiler)
        self.disqualify = tuple((rule.name, compiler.compile(rule.when)) for rule in classification.disqualify)
        maturity = classification.maturity
        self.hot = compiler.compile(maturity.hot) if maturity.hot is not None else None
        self.warm = compiler.compile(maturity.warm) if maturity.warm is not None else None
        # the SLA's response time is the maturity's as of the hand-off: replaying it needs the scores then only
        # when a maturity condition tests a score
        scored = score_testing(spec, reference_graph(spec))
        self._maturity_reads_scores = _tests_a_score((maturity.hot, maturity.warm), scored)
        self.qualify_on = classification.prospect.qualify_on
        self.keep_prospects = classification.prospect.keep_while_active
        self.inactive_days = classification.nurture.inactive_days
        self.inactive_seconds = classification.nurture.inactive_days * DAY
        self.recurring_months = classification.client.recurring_min_contract_months
        self.recurring_wins = classification.client.recurring_min_won_deals
        self.sla = SlaPolicy(spec.sla)
        self.rule_names = tuple(scorer.name for scorer in self.scorers)
        # which `when` rules and framework criteria read neither the clock nor the scores: the hand-off search
        # evaluates them once per contact, not at every instant it replays
        static_rules = tuple(rule.when is not None and compiler.is_static(rule.when)
                             for dimension in DIMENSIONS for rule in getattr(spec.scoring, dimension).rules)
        framework_spec = getattr(spec.qualification, spec.qualification.framework)
        static_criteria = tuple(compiler.is_static(condition) for condition in framework_spec.criteria.values())
        self.assessor = Assessor(self.scorers, self.caps, self.threshold, self.framework, self.qualify_on,
                                 static_rules, static_criteria,
                                 _tests_a_score(framework_spec.criteria.values(), scored))
        # built last: it reads the plan the compiler filled in
        self.history = HistoryReader(self.plan, self.recurring_months, frozenset(classification.nurture.ignore_events),
                                     compile_title_levels(spec.seniority_from_title))
        self.handoffs = HandoffFinder(self.assessor, self.history, self.sla, self.inactive_seconds)
        self._reasons = ReasonWriter(self.framework, self.scorers, self.threshold, self.qualify_on,
                                     self.inactive_days)
        self._now: tuple[Any, float] = (None, 0.0)  # the last `now` given and its epoch seconds
        # the memory of a contact never qualified, by stage and whether it was a prospect: immutable, shared
        self._memories: dict[tuple[Stage, bool], ContactMemory] = {}

    # ------------------------------------------------------------------------------------------ public API

    def sla_due_at(self, started_at: datetime, maturity: Maturity | None) -> datetime:
        """Business-calendar due time of the first sales touch for a hand-off at `started_at`."""
        return self.sla.due_at(started_at, maturity)

    def evaluate(self, contact: Contact | Any, now: datetime | Any, memory: ContactMemory | Any = None) -> Decision:
        """The Decision for one contact at `now` (timezone-aware). Raises InvalidContact for bad data."""
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        try:
            return self._evaluate(contact, now, memory or _NO_MEMORY)
        except _BAD_DATA as exc:
            contact_id = getattr(contact, "id", None)
            problem = diagnose(contact) or f"cannot evaluate: {type(exc).__name__}: {str(exc)[:200]}"
            raise InvalidContact(contact_id if isinstance(contact_id, str) else repr(contact_id)[:64],
                                 problem) from None

    def evaluate_many(self, contacts: Iterable[Contact | Any], now: datetime | Any,
                      memories: Mapping[str, ContactMemory] | Any = None) -> list[Decision | ContactError]:
        """A Decision or a ContactError per contact, in order: one bad contact never stops the batch.
        `memories` is keyed by contact id."""
        out: list[Decision | ContactError] = []
        append = out.append
        get = memories.get if memories else None
        evaluate = self.evaluate
        for contact in contacts:
            try:
                append(evaluate(contact, now, get(contact.id) if get is not None else None))
            except InvalidContact as exc:
                append(ContactError(exc.contact_id, exc.message, _text(getattr(contact, "crm", "")),
                                    _text(getattr(contact, "account", ""))))
            except Exception as exc:  # noqa: BLE001 - a batch must survive any one contact, whatever broke
                append(ContactError(_text(getattr(contact, "id", "")),
                                    f"cannot evaluate: {type(exc).__name__}: {str(exc)[:200]}",
                                    _text(getattr(contact, "crm", "")), _text(getattr(contact, "account", ""))))
        return out

    # ------------------------------------------------------------------------------------------ one contact

    def _evaluate(self, contact: Any, now_moment: Any, memory: Any) -> Decision:
        last = self._now  # a batch evaluates every contact at the same instant: convert it once
        if last[0] is now_moment:
            now = last[1]
        else:
            now = now_moment.timestamp()
            self._now = (now_moment, now)
        context = self.history.context(contact, now)
        assessor = self.assessor
        fired: list[FiredRule] = []
        total, fit, engagement, intent = assessor.capped(assessor.raw_scores(context, fired))
        context.scores = (float(total), float(fit), float(engagement), float(intent))
        met, framework_met = self.framework.evaluate(context)
        qualifies = assessor.qualifies(total, framework_met)

        deals = context.deals
        won = [deal for deal in deals if deal.status == _WON] if deals else _NO_DEALS
        disqualified_by = None
        if not won:
            for name, test in self.disqualify:
                if test(context):
                    disqualified_by = name
                    break
        inactive_days = None
        if not won and disqualified_by is None and (qualifies or memory.was_prospect):
            last_active = self.history.last_active(context)
            inactive_days = (now - last_active) / DAY if last_active is not None else None
        inactive = inactive_days is not None and inactive_days > self.inactive_days

        # the stage the rules give, before any override
        sticky = False
        if won:
            ruled = _CLIENT
        elif disqualified_by is not None:
            ruled = _DISQUALIFIED
        elif inactive and (qualifies or memory.was_prospect):
            ruled = _NURTURE
        elif qualifies:
            ruled = _PROSPECT
        elif self.keep_prospects and memory.stage is _PROSPECT:
            ruled, sticky = _PROSPECT, True
        else:
            ruled = _LEAD
        override = contact.override_stage
        stage = Stage(override) if override is not None else ruled

        maturity = client_kind = None
        if stage is _PROSPECT:
            maturity = self._maturity(context)
        if won:
            months = self.recurring_months
            recurring = (any(deal_is_recurring(deal, months) for deal in won)
                         or (len(won) >= self.recurring_wins and _purchases(won) >= self.recurring_wins))
            client_kind = _RECURRING if recurring else _ONE_OFF

        sla = _NOT_STARTED
        qualified_at = handoff = handed = None
        if stage is _PROSPECT:
            qualified_at, handoff = self._handoff(context, memory, qualifies, now_moment, fired, met)
            if self.sla.enabled:
                handed_at = qualified_at.timestamp()
                if handed_at >= now:
                    handed = maturity
                elif memory.handoff_maturity is not None and memory.qualified_at == qualified_at:
                    handed = memory.handoff_maturity
                else:
                    handed = self._maturity_at(context, handed_at)
                sla = self.sla.state(context.activity_rows, context.owner, qualified_at, handoff, handed, now)

        reason = self._reasons.write(stage, ruled, override is not None, total, framework_met, met, maturity,
                                     client_kind, won, deals, disqualified_by, inactive_days, sticky, fired)
        if stage is not _CLIENT:
            client_kind = None  # the rules' kind stays in the reason when a person pinned another stage
        return Decision(
            crm=contact.crm, account=contact.account, contact_id=contact.id,
            score=total, fit=fit, engagement=engagement, intent=intent,
            stage=stage, overridden=override is not None, maturity=maturity, client_kind=client_kind,
            framework=self.framework.name, criteria_met=met, qualified=framework_met, sla=sla,
            fired=tuple(fired), reason=reason, rules_version=self.version,
            memory=self._memory(qualified_at, handoff, handed, stage, memory.was_prospect or stage is _PROSPECT),
        )

    def _maturity(self, context: Any) -> Maturity:
        return (_HOT if self.hot is not None and self.hot(context)
                else _WARM if self.warm is not None and self.warm(context) else _COLD)

    def _maturity_at(self, context: Any, at: float) -> Maturity:
        """The maturity the prospect had at `at` (its hand-off), seeing only what was dated by then. The SLA's
        response time is that one: a due time never moves and a met or late never turns into the other as the
        signals that made a prospect hot age."""
        saved_now, saved_scores = context.now, context.scores
        context.now = at
        try:
            if self._maturity_reads_scores:
                total, fit, engagement, intent = self.assessor.capped(self.assessor.raw_scores(context, None))
                context.scores = (float(total), float(fit), float(engagement), float(intent))
            return self._maturity(context)
        finally:
            context.now, context.scores = saved_now, saved_scores

    def _handoff(self, context: Any, memory: Any, qualifies: bool, now_moment: Any, fired: list[FiredRule],
                 met: tuple[str, ...]) -> tuple[datetime, str | None]:
        """When this prospect was handed off, and how that was dated (sync.rules.handoff)."""
        remembered = memory.qualified_at
        if remembered is not None:
            remembered = aware(remembered)
            start, had_earlier_run = self.handoffs.run_start(context)
            if start is None or not had_earlier_run or remembered.timestamp() >= start - 1.0:
                return remembered, memory.handoff
            # since then it went quiet for longer than the nurture window and came back: a new hand-off
        if qualifies:
            found = self.handoffs.find(context, memory.stage is not None, self.assessor.known_from(fired, met))
            if found is not None:
                return datetime.fromtimestamp(found.at, UTC), found.kind
        return now_moment.astimezone(UTC), FIRST_SEEN  # no dated hand-off: crmsync sees it qualify now

    def _memory(self, qualified_at: datetime | None, handoff: str | None, handed: Maturity | None, stage: Stage,
                was_prospect: bool) -> ContactMemory:
        if qualified_at is not None:
            return ContactMemory(qualified_at=qualified_at, stage=stage, was_prospect=was_prospect, handoff=handoff,
                                 handoff_maturity=handed)
        key = (stage, was_prospect)
        shared = self._memories.get(key)
        if shared is None:
            shared = self._memories[key] = ContactMemory(stage=stage, was_prospect=was_prospect)
        return shared


def _purchases(won: list[Any]) -> int:
    """How many purchases these won deals are: deals closed the same day are one (a licence and its
    installation); a deal without a close date is a purchase of its own."""
    days = {deal.close_date for deal in won if deal.close_date is not None}
    return len(days) + sum(1 for deal in won if deal.close_date is None)


def _tests_a_score(conditions: Iterable[schema.AnyConditionModel | None], scored: set[str]) -> bool:
    """Whether any of these conditions tests a score, itself or through a named condition (`scored`)."""
    return any(isinstance(node, schema.ScoreCondition) or (isinstance(node, schema.RefCondition) and node.ref in scored)
               for condition in conditions if condition is not None for node in nodes(condition))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)[:64]


__all__ = ["CompiledRules", "ContactError", "InvalidContact", "default_rules_path", "load_rules", "parse_rules",
           "rules_from_text", "rules_version"]
