"""The one way every connector talks to its CRM: `Gateway.call` sends each request, in the same order for
the three CRMs, whatever the transport (hubspot-api-client, simple-salesforce, a requests session).

One attempt:
1. pace: spend the call's cost from the daily budget (refused with `RateLimited(scope="daily")` instead of
   sleeping for hours), then wait for a slot in the call's sliding window;
2. authenticate: the credentials hand over a grant valid for at least their refresh margin;
3. count the call under its category and send it (`send(grant) -> Answer`, one HTTP request);
4. read the answer: the dialect adopts the budget headers; an error answer becomes one `sync.errors` type,
   with `Retry-After` read in both its forms (`headers.retry_after`); a 2xx body is parsed, and a malformed
   one is a `TransientError`, so it is retried like a 5xx.
An expired token makes the credentials renew once and the request go once more, inside the same attempt;
a second rejection in the same call is `AuthFailed`, and so is the first when the credentials cannot be
refreshed. Attempts are driven by `sync.retry`, installed here once with the account's retry settings
(attempts, longest wait): no connector retries anything itself, and the SDKs' own retries are off.

What differs between CRMs is a `Dialect`: where the budget headers are, when the daily budget resets,
what an error answer means (an expired token, a throttle, a rejected record), how a body is parsed. The
rest lives here once, with `last`, the gateway's record of the latest answer, on which `health()` is
built: a throttled account is reachable and authorised, with its budget.

Time: pacing waits go through the injected sleep. A sleep that does not move the injected clock (a
test's recorder) still moves pacing time by what it was asked to wait, so a test with a frozen clock can
never spin in a full window.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec
import structlog
import tenacity

from sync import retry
from sync.clock import Clock, SystemClock
from sync.contract import Budget, Health
from sync.errors import (
    AuthExpired,
    AuthFailed,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from sync.ratelimit import DailyBudget, SlidingWindowLimiter
from sync.toolkit.headers import retry_after
from sync.toolkit.tokens import Credentials, Grant

log = structlog.get_logger("crmsync.toolkit.gateway")

AUTH = "auth"  # the category of token requests
BURST = "burst"  # the default sliding window


@dataclass(frozen=True, slots=True)
class Call:
    """What one request is, for pacing, counting, retrying and reading its answer."""

    category: str  # what `Gateway.calls` counts it under (contacts, deals, push, setup, auth...)
    operation: str  # what messages call it ("contact search", "PATCH /api/v2/persons/7")
    idempotent: bool = True  # safe to send again after a transient failure
    cost: int = 1  # units of the daily budget (Pipedrive counts tokens, the others calls)
    window: str = BURST  # the sliding window that paces it
    authenticated: bool = True  # False for the token request itself
    paced: bool = True  # False where no API budget is spent (another host's token endpoint)


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer as the transport gave it; `data` is the parsed body of a 2xx answer."""

    status: int
    headers: Mapping[str, str]
    body: Any = None  # bytes or text as received, or what an SDK already parsed
    data: Any = None

    def json(self) -> Any:
        """The body as JSON, for reading an error answer: None when it is not JSON."""
        if isinstance(self.body, (bytes, str)):
            try:
                return msgspec.json.decode(self.body)
            except msgspec.DecodeError:
                return None
        return self.body


@dataclass(frozen=True, slots=True)
class Limits:
    """What one account may spend: a daily budget (None: the CRM sets none) and sliding windows by name."""

    daily: int | None
    windows: Mapping[str, tuple[int, float]]  # name -> (calls, seconds)
    daily_reserve: int = 0  # left for people and other integrations sharing the budget


@dataclass(frozen=True, slots=True)
class LastAnswer:
    """What the latest request came to."""

    at: datetime
    status: int | None  # None: no answer (refused before sending, or the connection failed)
    error: ConnectorError | None = None


class Dialect:
    """The per-CRM hooks of the gateway. The defaults follow plain HTTP semantics; a CRM overrides only
    what its API does differently."""

    crm = "crm"
    name = "CRM"  # in messages
    budget_window = "daily"  # how the CRM counts its daily budget ("daily", "rolling_24h")

    def __init__(self, settings: Any = None, clock: Clock = SystemClock()) -> None:  # noqa: B008 (stateless)
        self.settings = settings  # the connector's settings (its waits, its limits)
        self.clock = clock

    def seconds_to_daily_reset(self) -> float | None:
        """When the daily budget starts again; None where the window rolls."""
        return None

    def observe(self, answer: Answer, call: Call, pacing: Pacing) -> None:
        """Adopt what the answer's headers say about the budgets (other integrations spend them too)."""

    def error(self, answer: Answer, call: Call, wait: float | None) -> ConnectorError:
        """The error an answer outside 2xx means. `wait` is its Retry-After, in seconds."""
        where = f"{self.name} {call.operation}"
        status = answer.status
        if status == 401:
            return AuthExpired(f"{where}: token expired or rejected", crm=self.crm, status=status)
        if status == 403:
            return AuthFailed(f"{where}: forbidden", crm=self.crm, status=status)
        if status == 429:
            return RateLimited(f"{where}: rate limited", crm=self.crm, retry_after=wait or 1.0)
        if status >= 500 or status == 0:
            return TransientError(f"{where}: server error {status}", crm=self.crm, status=status)
        return PermanentError(f"{where} was rejected ({status})", crm=self.crm, status=status)

    def transport_error(self, exc: Exception, call: Call) -> ConnectorError | None:
        """The error a failed send means (no answer); None re-raises `exc` as it is."""
        return None

    def parse(self, answer: Answer, call: Call) -> Any:
        """The body of a 2xx answer. Bytes are JSON; a malformed body is never taken for an empty one."""
        body = answer.body
        if not isinstance(body, (bytes, str)):
            return body
        if not body:
            return None
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise TransientError(f"{self.name} {call.operation}: malformed JSON in a {answer.status} answer",
                                 crm=self.crm, status=answer.status) from None


class Pacing:
    """The account's daily budget and sliding windows, on one clock."""

    def __init__(self, crm: str, limits: Limits, *, clock: Callable[[], float], wall: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self.daily = DailyBudget(crm, limits.daily, reserve=limits.daily_reserve, clock=wall)
        self.windows = {name: SlidingWindowLimiter(calls, seconds, clock=clock, sleep=sleep)
                        for name, (calls, seconds) in limits.windows.items()}

    def window(self, name: str = BURST) -> SlidingWindowLimiter:
        return self.windows[name]

    @property
    def waited(self) -> float:
        """Seconds spent waiting for a window, in total."""
        return sum(window.waited for window in self.windows.values())


class _PacingTime:
    """The clock the windows read: the injected clock, plus what an injected sleep that did not move it was
    asked to wait."""

    def __init__(self, clock: Clock, sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self._unmoved = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock.now().timestamp() + self._unmoved

    def sleep(self, seconds: float) -> None:
        before = self._clock.now()
        self._sleep(seconds)
        if self._clock.now() == before:
            with self._lock:
                self._unmoved += seconds


@dataclass
class RetrySettings:
    """How often and how long one call is retried (each connector's settings carry the same two options)."""

    attempts: int = retry.DEFAULT_ATTEMPTS
    max_wait_s: float = retry.DEFAULT_MAX_WAIT


Send = Callable[[Grant | None], Answer]


@dataclass
class Gateway:
    """One account's requests: paced, authenticated, counted, retried, read. Thread-safe."""

    dialect: Dialect
    credentials: Credentials
    limits: Limits
    clock: Clock
    retries: RetrySettings = field(default_factory=RetrySettings)
    sleep: Callable[[float], None] = time.sleep
    calls: Counter[str] = field(default_factory=Counter)
    last: LastAnswer | None = None

    def __post_init__(self) -> None:
        self._time = _PacingTime(self.clock, self.sleep)
        self.pacing = Pacing(self.dialect.crm, self.limits, clock=self._time.now,
                             wall=lambda: self.clock.now().timestamp(), sleep=self._time.sleep)
        # the one retry policy, installed once: resending after a transient failure or not
        self._policies = {idempotent: retry.retrying(idempotent=idempotent, attempts=self.retries.attempts,
                                                     max_wait=self.retries.max_wait_s, sleep=self._time.sleep)
                          for idempotent in (True, False)}

    # -- sending -----------------------------------------------------------------------------------------

    def call(self, call: Call, send: Send) -> Answer:
        """Send one request under the retry policy; renew the credentials at most once."""
        renewed = False

        def attempt() -> Answer:
            nonlocal renewed
            try:
                return self.once(call, send)
            except AuthExpired as exc:
                if not call.authenticated or not self.credentials.can_refresh:
                    raise self._failed(AuthFailed(f"{exc.user_message}; {self.credentials.fix}", crm=exc.crm,
                                                  status=exc.status, detail=exc.detail)) from None
                if renewed:
                    raise self._failed(self._rejected_fresh(call, exc)) from None
                renewed = True
                log.info("token_expired", crm=self.dialect.crm, category=call.category)
                self.credentials.renew()
            try:
                return self.once(call, send)
            except AuthExpired as exc:
                raise self._failed(self._rejected_fresh(call, exc)) from None

        return self._retrying(call)(attempt)

    def once(self, call: Call, send: Send) -> Answer:
        """One attempt, without retries: what a token request runs inside the attempt that needed it."""
        if call.paced:
            self._pace(call)
        grant = self.credentials.current() if call.authenticated else None
        self.calls[call.category] += 1
        try:
            answer = send(grant)
        except ConnectorError as exc:
            self._remember(None, exc)
            raise
        except Exception as exc:  # the transports raise a zoo of exceptions: the dialect names each
            error = self.dialect.transport_error(exc, call)
            if error is None:
                raise
            self._remember(None, error)
            log.debug("api_call_failed", crm=self.dialect.crm, category=call.category,
                      operation=call.operation, error=type(exc).__name__)
            raise error from None
        self.dialect.observe(answer, call, self.pacing)
        if not 200 <= answer.status < 300:
            error = self.dialect.error(answer, call, retry_after(answer.headers, self.clock.now()))
            self._remember(answer.status, error)
            log.debug("api_call_failed", crm=self.dialect.crm, category=call.category,
                      operation=call.operation, status=answer.status)
            raise error from None  # never chained: an SDK exception's text can carry the request
        try:
            data = self.dialect.parse(answer, call)
        except ConnectorError as exc:
            self._remember(answer.status, exc)
            raise
        self._remember(answer.status, None)
        return Answer(answer.status, answer.headers, answer.body, data)

    def _pace(self, call: Call) -> None:
        daily = self.pacing.daily
        if daily.resets_at is None:
            resets_in = self.dialect.seconds_to_daily_reset()
            if resets_in is not None:
                daily.observe(None, resets_in=resets_in)
        try:
            daily.spend(call.cost)
        except RateLimited as exc:
            self._remember(None, exc)
            raise
        self.pacing.window(call.window).acquire()

    def _retrying(self, call: Call) -> tenacity.Retrying:
        return self._policies[call.idempotent].copy()  # as tenacity's own decorator does: state per call

    def _rejected_fresh(self, call: Call, exc: AuthExpired) -> AuthFailed:
        return AuthFailed(f"{self.dialect.name} {call.operation}: rejected a token it had just issued",
                          crm=self.dialect.crm, status=exc.status, detail=exc.detail)

    def _remember(self, status: int | None, error: ConnectorError | None) -> None:
        self.last = LastAnswer(self.clock.now(), status, error)

    def _failed(self, error: AuthFailed) -> AuthFailed:
        """Record what the call finally came to when it differs from the answer's own error."""
        self._remember(error.status, error)
        return error

    # -- what the gateway knows --------------------------------------------------------------------------

    def budget(self) -> Budget:
        daily = self.pacing.daily
        resets = daily.resets_at
        return Budget(remaining=daily.remaining, limit=daily.limit, window=self.dialect.budget_window,
                      resets_at=None if resets is None else datetime.fromtimestamp(resets, tz=timezone.utc))

    def health(self, probe: Callable[[], object]) -> Health:
        """Send `probe` (the CRM's cheapest authenticated request) and judge the account by what it came to
        (`verdict`)."""
        try:
            probe()
        except ConnectorError:
            pass  # recorded in `last`
        return self.verdict()

    def verdict(self) -> Health:
        """The account's health as the latest answer tells it: throttled is reachable and authorised;
        refused credentials are reachable, not authorised; no answer, a server error or an unreadable body
        is unreachable."""
        last = self.last
        if last is None:
            return Health(reachable=False, authorised=False, message="no request sent yet",
                          budget=self.budget())
        error = last.error
        if error is None:
            return Health(reachable=True, authorised=True, message="ok", budget=self.budget())
        if isinstance(error, (AuthFailed, AuthExpired)):
            return Health(reachable=True, authorised=False, message=error.user_message, budget=self.budget())
        if isinstance(error, RateLimited):
            return Health(reachable=True, authorised=True, message=error.user_message, budget=self.budget())
        return Health(reachable=False, authorised=False, message=error.user_message, budget=self.budget())
