"""The single retry layer: `sync.toolkit.gateway.Gateway` installs it once, for every call of every connector.

Retries are driven by what the API said: a `RateLimited` error carries the wait
the CRM asked for (Retry-After, a rate-limit reset header, a documented
policy), a `TransientError` backs off exponentially with jitter. Nothing else
is retried: auth errors go to the connector's refresh path, permanent errors
to the caller. A daily-budget `RateLimited` is re-raised at once, because
sleeping for hours inside a run holds the account's lock and helps nobody: the
scheduler parks the account until the budget resets and the cursor resumes it.

The SDKs' own retries must be switched off (hubspot: `retry=Retry(0)`), or
attempts multiply. Sleep is injected so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog
import tenacity

from sync.errors import RateLimited, TransientError

Result = TypeVar("Result")

log = structlog.get_logger("crmsync.retry")

DEFAULT_ATTEMPTS = 5
DEFAULT_MAX_WAIT = 120.0


class _ApiDrivenWait(tenacity.wait.wait_base):
    """Wait what a RateLimited error asks for; exponential back-off with jitter for transient errors."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._backoff = tenacity.wait_exponential_jitter(multiplier=initial, max=maximum)
        self._maximum = maximum

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RateLimited):
            return min(max(exc.retry_after, 0.0), self._maximum)
        return float(self._backoff(retry_state))


def _should_retry(idempotent: bool) -> Callable[[BaseException], bool]:
    def predicate(exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            # a throttled request was not processed, so even a non-idempotent call is safe to resend
            return exc.scope != "daily"
        if isinstance(exc, TransientError):
            return idempotent
        return False

    return predicate


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.warning(
        "api_call_retry",
        crm=getattr(exc, "crm", None),
        error=type(exc).__name__,
        status=getattr(exc, "status", None),
        message=getattr(exc, "user_message", str(exc)),
        attempt=retry_state.attempt_number,
        wait_s=round(wait, 3),
    )


def retrying(
    *,
    idempotent: bool = True,
    attempts: int = DEFAULT_ATTEMPTS,
    initial_wait: float = 0.5,
    max_wait: float = DEFAULT_MAX_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> tenacity.Retrying:
    """A tenacity controller for one CRM call. Use as `retrying(...)(fn, *args)`; the last error is re-raised."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(_should_retry(idempotent)),
        wait=_ApiDrivenWait(initial_wait, max_wait),
        stop=tenacity.stop_after_attempt(attempts),
        sleep=sleep,
        before_sleep=_log_retry,
        reraise=True,
    )


def call(function: Callable[[], Result], *, idempotent: bool = True, sleep: Callable[[float], None] = time.sleep,
         attempts: int = DEFAULT_ATTEMPTS, max_wait: float = DEFAULT_MAX_WAIT) -> Result:
    """Run `fn` under the retry policy."""
    return retrying(idempotent=idempotent, sleep=sleep, attempts=attempts, max_wait=max_wait)(function)
