"""The compiled rules: one object the daemon loads once and calls for every contact.

`load_rules` validates the YAML (every problem located), then compiles it;
`CompiledRules.evaluate` is a pure function of (contact, now, memory). Per
contact it makes one pass over the events and activities (bucketing event
times by type into sorted lists, activities into a sorted list of tuples),
runs the compiled scorers, the qualification criteria and the classification,
and times the SLA. Nothing is cached across contacts.

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

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import msgspec

from sync.configfile import parse_yaml, read_yaml
from sync.errors import CrmsyncError
from sync.model import ClientKind, Contact, DealStatus, Maturity, Stage
from sync.rules import schema as s
from sync.rules.badinput import diagnose
from sync.rules.conditions import ANY_TYPE, DAY, Compiler, Ctx, Plan, deal_is_recurring
from sync.rules.decision import ContactMemory, Decision, FiredRule, SlaState
from sync.rules.loading import default_rules_path, parse_rules, rules_version
from sync.rules.native import NativeRules, native_rules
from sync.rules.qualification import compile_framework
from sync.rules.reasons import ReasonWriter
from sync.rules.scoring import DIMENSIONS, compile_scoring
from sync.rules.sla import SlaPolicy

# Final: compiled with mypyc, a Final module constant is a C static, any other global a dict lookup per use
UTC: Final = timezone.utc
_NO_MEMORY: Final = ContactMemory()
_NOT_STARTED: Final = SlaState()
_BY_TIME: Final = itemgetter(0)
_NONE: list[Any] = []  # shared empty list for contacts without deals (never mutated)
# ev and acts of a context whose data the C evaluator holds, until _python_view fills them in (never mutated)
_UNREAD_EV: Final[dict[Any, list[float]]] = {}
_UNREAD_ACTS: Final[list[Any]] = []
_MAX_REPLAY: Final = 512  # most recent dated signals examined when looking for the hand-off moment


# enum members as C statics: on Python 3.11 `Stage.PROSPECT` goes through EnumType.__getattr__ every time
_CLIENT: Final = Stage.CLIENT
_DISQUALIFIED: Final = Stage.DISQUALIFIED
_NURTURE: Final = Stage.NURTURE
_PROSPECT: Final = Stage.PROSPECT
_LEAD: Final = Stage.LEAD
_HOT: Final = Maturity.HOT
_WARM: Final = Maturity.WARM
_COLD: Final = Maturity.COLD
_RECURRING: Final = ClientKind.RECURRING
_ONE_OFF: Final = ClientKind.ONE_OFF
_WON: Final = DealStatus.WON


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


def _aware(value: Any) -> Any:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class CompiledRules:
    """Rules compiled into closures. Immutable after construction; safe to share between threads that each
    call `evaluate` (every call builds its own context)."""

    def __init__(self, spec: s.RulesFile, source: str = "<rules>", native: bool | None = None) -> None:
        """`native`: evaluate with the C evaluator (True: required, False: never, None: when installed)."""
        self.spec = spec
        self.source = source
        self.version = rules_version(spec)
        c = spec.classification
        self.plan = Plan(team=frozenset(spec.sla.touch.team), recurring_months=c.client.recurring_min_contract_months)
        compiler = Compiler(spec.conditions, self.plan)
        self.scorers = compile_scoring(spec.scoring, compiler)
        self.caps = tuple(float(getattr(spec.scoring, dim).cap) for dim in DIMENSIONS)
        self.threshold = spec.scoring.threshold
        self.framework = compile_framework(spec.qualification, compiler)
        self.disqualify = tuple((rule.name, compiler.compile(rule.when)) for rule in c.disqualify)
        self.hot = compiler.compile(c.maturity.hot) if c.maturity.hot is not None else None
        self.warm = compiler.compile(c.maturity.warm) if c.maturity.warm is not None else None
        self.qualify_on = c.prospect.qualify_on
        self.keep_prospects = c.prospect.keep_while_active
        self.inactive_days = c.nurture.inactive_days
        self.inactive_seconds = c.nurture.inactive_days * DAY
        self.ignore_events = frozenset(c.nurture.ignore_events)
        self.recurring_months = c.client.recurring_min_contract_months
        self.recurring_wins = c.client.recurring_min_won_deals
        self.sla = SlaPolicy(spec.sla)
        self.rule_names = tuple(scorer.name for scorer in self.scorers)
        # which `when` rules and framework criteria read neither the clock nor the scores: the hand-off search
        # evaluates them once per contact, not at every instant it replays
        self._static_rules = tuple(rule.when is not None and compiler.is_static(rule.when)
                                   for dim in DIMENSIONS for rule in getattr(spec.scoring, dim).rules)
        framework_spec = getattr(spec.qualification, spec.qualification.framework)
        self._static_criteria = tuple(compiler.is_static(cond) for cond in framework_spec.criteria.values())
        assert len(self._static_rules) == len(self.scorers)
        assert len(self._static_criteria) == len(self.framework.criteria)
        # (dimension, when, its FiredRule, per_event, points) -- or for per_event rules
        # (dimension, None, dimension name, per_event, rule name): tuples unpack faster than attributes
        self._flat: tuple[tuple[Any, ...], ...] = tuple(
            (sc.dimension, sc.when, sc.fixed, None, sc.points) if sc.when is not None
            else (sc.dimension, None, DIMENSIONS[sc.dimension], sc.per_event, sc.name)
            for sc in self.scorers)
        plan = self.plan
        self._types = frozenset(plan.types)
        self._any_type = plan.any_type
        self._pairs = frozenset(plan.pairs)
        self._any_sources = frozenset(plan.any_type_sources)
        self._by_type_only = not (self._any_type or self._pairs or self._any_sources)
        # last: it reads the plan the Python compiler filled in
        self._native: NativeRules | None = native_rules(spec, compiler, self.scorers, self.framework,
                                                        self._static_rules + self._static_criteria, native)
        self._reasons = ReasonWriter(self.framework, self.scorers, self.threshold, self.qualify_on,
                                     self.inactive_days, self._native.top_text if self._native is not None else None)
        self._now: tuple[Any, float] = (None, 0.0)  # the last `now` given and its epoch seconds
        # the memory of a contact never qualified, by stage and whether it was a prospect: immutable, shared
        self._memories: dict[tuple[Stage, bool], ContactMemory] = {}

    @property
    def native(self) -> bool:
        """Whether contacts go through the C evaluator (sync/rules/_native.c)."""
        return self._native is not None

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
        except (TypeError, AttributeError, ValueError, OverflowError, KeyError, IndexError, OSError,
                RecursionError) as exc:
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

    def _prepare(self, contact: Any, now: float) -> Ctx:
        """One pass over the contact: event times bucketed by the types the rules read (sorted epoch
        seconds), activities as tuples sorted by time. Events of types no rule reads are not even converted."""
        nat = self._native
        events = contact.events
        activities = contact.activities
        if nat is not None:
            if self._by_type_only:  # C arrays; the Python lists only if a Python consumer asks (_python_view)
                ctx = Ctx(contact, now, _UNREAD_EV, _UNREAD_ACTS, self.recurring_months)
                ctx.prepared = nat.prepare(events, activities, nat.key_index, nat.keys)
                return ctx
            return Ctx(contact, now, self._buckets(events),
                       nat.activity_rows(activities) if activities else [], self.recurring_months)
        return Ctx(contact, now, self._buckets(events), self._activity_rows(activities), self.recurring_months)

    def _python_view(self, ctx: Ctx) -> None:
        """Fill ctx.ev and ctx.acts from the C evaluator's arrays, before Python code reads them."""
        prepared = ctx.prepared
        if prepared is not None and ctx.ev is _UNREAD_EV:
            ctx.ev = prepared.ev()
            ctx.acts = prepared.acts()

    def _buckets(self, events: Any) -> dict[Any, list[float]]:
        ev: dict[Any, list[float]] = {}
        if events:
            types = self._types
            if self._by_type_only:
                # the usual plan: buckets by type only. One dict lookup per event; the bucket is made on the
                # first event of a type a rule reads (every event's time is still checked: bad data raises)
                get = ev.get
                for event in events:
                    at = event.at
                    if at.tzinfo is None:
                        at = at.replace(tzinfo=UTC)
                    kind = event.type
                    times = get(kind)
                    if times is not None:
                        times.append(at.timestamp())
                    elif kind in types:
                        ev[kind] = [at.timestamp()]
            else:
                self._bucket_all(events, ev)
            for times in ev.values():
                if len(times) > 1:
                    times.sort()
        return ev

    def _activity_rows(self, activities: Any) -> list[Any]:
        acts: list[Any] = []
        if activities:
            append = acts.append
            for activity in activities:
                at = activity.at
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                append((at.timestamp(), activity.kind, activity.by, activity.direction, activity.done,
                        activity.automated))
            if len(acts) > 1:
                acts.sort(key=_BY_TIME)
        return acts

    def _bucket_all(self, events: Any, ev: dict[Any, list[float]]) -> None:
        """Bucketing for plans that also read events of any type or by source."""
        types, any_type, pairs, any_sources = self._types, self._any_type, self._pairs, self._any_sources
        by_source = bool(pairs or any_sources)
        for event in events:
            at = event.at
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            kind = event.type
            times = ev.get(kind)
            if times is not None:
                times.append(at.timestamp())
            elif kind in types:
                ev[kind] = [at.timestamp()]
            if any_type:
                ev.setdefault(ANY_TYPE, []).append(at.timestamp())
            if by_source:
                source = event.source
                if (kind, source) in pairs:
                    ev.setdefault((kind, source), []).append(at.timestamp())
                if source in any_sources:
                    ev.setdefault((ANY_TYPE, source), []).append(at.timestamp())

    def _last_active(self, ctx: Ctx) -> float | None:
        """The last time (at or before now) the contact did anything that counts as activity, or a person
        logged a done activity with them; the creation time when nothing else is dated; None when nothing is.
        Computed only for contacts where nurture is possible."""
        nat = self._native
        if nat is not None:
            rows: Any = ctx.prepared if ctx.prepared is not None else ctx.acts
            found: float | None = nat.last_active(ctx.c.events, self.ignore_events, rows, ctx.c.created_at, ctx.now)
            return found
        now, ignore, last = ctx.now, self.ignore_events, -math.inf
        for event in ctx.c.events or ():
            if event.type not in ignore:
                ts = _aware(event.at).timestamp()
                if last < ts <= now:
                    last = ts
        for ts, _, _, _, done, automated in ctx.acts:
            if ts > now:
                break
            if done and not automated and ts > last:
                last = ts
        created = ctx.c.created_at
        if created is not None:
            ts = _aware(created).timestamp()
            if last < ts <= now:
                last = ts
        return last if last > -math.inf else None

    def _score(self, ctx: Ctx, fired: list[FiredRule] | None) -> tuple[float, float, float]:
        """Raw (uncapped) dimension sums; appends what fired to `fired` when given."""
        raw = [0.0, 0.0, 0.0]
        if fired is None:
            for dim, when, fixed, per_event, points in self._flat:
                if when is not None:
                    if when(ctx):
                        raw[dim] += points
                else:
                    value = per_event(ctx)
                    if value:
                        raw[dim] += value
            return raw[0], raw[1], raw[2]
        append = fired.append
        for dim, when, fixed, per_event, points in self._flat:
            if when is not None:
                if when(ctx):
                    raw[dim] += points
                    append(fixed)
            else:
                value = per_event(ctx)
                if value:
                    raw[dim] += value
                    append(FiredRule(fixed, points, value))
        return raw[0], raw[1], raw[2]

    def _capped(self, raw: tuple[float, float, float]) -> tuple[int, int, int, int]:
        fit_cap, eng_cap, int_cap = self.caps
        fit = round(min(max(raw[0], 0.0), fit_cap))
        eng = round(min(max(raw[1], 0.0), eng_cap))
        intent = round(min(max(raw[2], 0.0), int_cap))
        return fit + eng + intent, fit, eng, intent

    def _qualifies(self, total: int, framework_met: bool) -> bool:
        on = self.qualify_on
        if on == "score_or_framework":
            return total >= self.threshold or framework_met
        if on == "score":
            return total >= self.threshold
        if on == "framework":
            return framework_met
        return total >= self.threshold and framework_met

    def _static_values(self, ctx: Ctx) -> tuple[list[Any], list[Any]]:
        """The values of the static `when` rules and criteria for this contact (None for the others)."""
        rules = [when(ctx) if static else None
                 for (_, when, _, _, _), static in zip(self._flat, self._static_rules)]
        criteria = [pred(ctx) if static else None
                    for (_, pred), static in zip(self.framework.criteria, self._static_criteria)]
        return rules, criteria

    def _replay_score(self, ctx: Ctx, known: list[Any]) -> tuple[float, float, float]:
        """`_score(ctx, None)`, the static rules read from `known`: same sums, added in the same order."""
        raw = [0.0, 0.0, 0.0]
        static = self._static_rules
        for i, (dim, when, _, per_event, points) in enumerate(self._flat):
            if when is not None:
                if known[i] if static[i] else when(ctx):
                    raw[dim] += points
            else:
                value = per_event(ctx)
                if value:
                    raw[dim] += value
        return raw[0], raw[1], raw[2]

    def _qualifies_at(self, ctx: Ctx, at: float, known: tuple[list[Any], list[Any]]) -> bool:
        """Whether the contact qualified as of `at`, seeing only what was dated at or before it."""
        nat = self._native
        if nat is not None:  # the same sums and tests in C, at `at` (static rules simply evaluate again)
            ev: Any = ctx.prepared if ctx.prepared is not None else ctx.ev
            acts: Any = ctx.prepared if ctx.prepared is not None else ctx.acts
            qualified: bool = nat.program.qualifies_at(ctx, at, ctx.c, ctx.f, ev, acts, ctx.owner)
            return qualified
        saved_now, saved_scores = ctx.now, ctx.scores
        ctx.now = at
        try:
            total, fit, eng, intent = self._capped(self._replay_score(ctx, known[0]))
            ctx.scores = (float(total), float(fit), float(eng), float(intent))
            return self._qualifies(total, self.framework.is_met_with(ctx, self._static_criteria, known[1]))
        finally:
            ctx.now, ctx.scores = saved_now, saved_scores

    def _handoff(self, ctx: Ctx) -> float | None:
        """When the data shows the contact became a prospect: the dated signal (event or activity) from which
        it qualifies, within its current run of activity (no gap longer than the nurture window). None when
        it qualified before any dated signal (from profile and fields alone): then the time is unknown."""
        now = ctx.now
        if ctx.prepared is not None:
            ordered: list[float] = ctx.prepared.signal_times(now)[-_MAX_REPLAY:]
        else:
            times = {t for bucket in ctx.ev.values() for t in bucket if t <= now}
            times.update(a[0] for a in ctx.acts if a[0] <= now)
            ordered = sorted(times)[-_MAX_REPLAY:]
        if not ordered:
            return None
        start = len(ordered) - 1
        while start > 0 and ordered[start] - ordered[start - 1] <= self.inactive_seconds:
            start -= 1
        run = ordered[start:]
        known = self._static_values(ctx) if self._native is None else ([], [])
        if not self._qualifies_at(ctx, run[-1], known):
            return None
        if self._qualifies_at(ctx, run[0], known):
            return None if self._qualifies_at(ctx, run[0] - 1.0, known) else run[0]
        lo, hi = 0, len(run) - 1  # run[lo] does not qualify, run[hi] does
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._qualifies_at(ctx, run[mid], known):
                hi = mid
            else:
                lo = mid
        return run[hi]

    def _evaluate(self, contact: Any, now_dt: Any, memory: Any) -> Decision:
        last = self._now  # a batch evaluates every contact at the same instant: convert it once
        if last[0] is now_dt:
            now = last[1]
        else:
            now = now_dt.timestamp()
            self._now = (now_dt, now)
        ctx = self._prepare(contact, now)
        fired: list[FiredRule] = []
        nat = self._native
        if nat is not None:
            if nat.python_per_event:
                self._python_view(ctx)
            c, f, owner = ctx.c, ctx.f, ctx.owner
            ev: Any = ctx.prepared if ctx.prepared is not None else ctx.ev
            acts: Any = ctx.prepared if ctx.prepared is not None else ctx.acts
            total, fit, eng, intent, met, framework_met, qualifies = nat.program.assess(
                ctx, fired, c, f, ev, acts, owner, now)  # scores (ctx.scores set), criteria, qualification
        else:
            total, fit, eng, intent = self._capped(self._score(ctx, fired))
            ctx.scores = (float(total), float(fit), float(eng), float(intent))
            met, framework_met = self.framework.evaluate(ctx)
            qualifies = self._qualifies(total, framework_met)
        framework = self.framework

        deals = ctx.deals
        won = [deal for deal in deals if deal.status == _WON] if deals else _NONE
        disqualified_by = None
        if not won:
            if nat is not None:
                first = nat.program.first(ctx, nat.disqualify_nodes, c, f, ev, acts, owner, now)
                disqualified_by = self.disqualify[first][0] if first >= 0 else None
            else:
                for name, pred in self.disqualify:
                    if pred(ctx):
                        disqualified_by = name
                        break
        inactive_days = None
        if not won and disqualified_by is None and (qualifies or memory.was_prospect):
            last_active = self._last_active(ctx)
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
            if nat is not None:
                test = nat.program.test
                maturity = (_HOT if nat.hot_node >= 0 and test(ctx, nat.hot_node, c, f, ev, acts, owner, now)
                            else _WARM if nat.warm_node >= 0 and test(ctx, nat.warm_node, c, f, ev, acts, owner, now)
                            else _COLD)
            else:
                maturity = (_HOT if self.hot is not None and self.hot(ctx)
                            else _WARM if self.warm is not None and self.warm(ctx) else _COLD)
        if won:
            months = self.recurring_months
            recurring = len(won) >= self.recurring_wins or any(deal_is_recurring(d, months) for d in won)
            client_kind = _RECURRING if recurring else _ONE_OFF

        sla = _NOT_STARTED
        qualified_at = None
        if stage is _PROSPECT:
            if memory.qualified_at is not None:
                started = _aware(memory.qualified_at)
            else:
                handoff = self._handoff(ctx) if qualifies else None
                started = datetime.fromtimestamp(handoff, UTC) if handoff is not None else now_dt.astimezone(UTC)
            qualified_at = started
            if self.sla.enabled:
                self._python_view(ctx)
                sla = self.sla.state(ctx.acts, ctx.owner, started, maturity, now)

        reason = self._reasons.write(stage, ruled, override is not None, total, framework_met, met, maturity, client_kind,
                              won, deals, disqualified_by, inactive_days, sticky, fired)
        if stage is not _CLIENT:
            client_kind = None  # the rules' kind stays in the reason when a person pinned another stage
        return Decision(
            crm=contact.crm, account=contact.account, contact_id=contact.id,
            score=total, fit=fit, engagement=eng, intent=intent,
            stage=stage, overridden=override is not None, maturity=maturity, client_kind=client_kind,
            framework=framework.name, criteria_met=met, qualified=framework_met, sla=sla,
            fired=tuple(fired), reason=reason, rules_version=self.version,
            memory=self._memory(qualified_at, stage, memory.was_prospect or stage is _PROSPECT),
        )

    def _memory(self, qualified_at: datetime | None, stage: Stage, was_prospect: bool) -> ContactMemory:
        if qualified_at is not None:
            return ContactMemory(qualified_at=qualified_at, stage=stage, was_prospect=was_prospect)
        key = (stage, was_prospect)
        shared = self._memories.get(key)
        if shared is None:
            shared = self._memories[key] = ContactMemory(stage=stage, was_prospect=was_prospect)
        return shared


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)[:64]


__all__ = ["CompiledRules", "ContactError", "InvalidContact", "default_rules_path", "load_rules", "parse_rules",
           "rules_from_text", "rules_version"]
