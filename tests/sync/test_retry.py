from __future__ import annotations

import pytest

from sync import retry
from sync.errors import AuthExpired, PermanentError, RateLimited, TransientError


class Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_rate_limited_waits_what_the_api_said(no_sleep):
    fn = Flaky(RateLimited("slow down", crm="hubspot", retry_after=7.5))
    assert retry.call(fn, sleep=no_sleep) == "ok"
    assert no_sleep.waits == [7.5]


def test_daily_budget_is_not_slept_through(no_sleep):
    fn = Flaky(RateLimited("daily", crm="hubspot", retry_after=40_000, scope="daily"))
    with pytest.raises(RateLimited):
        retry.call(fn, sleep=no_sleep)
    assert fn.calls == 1 and no_sleep.waits == []


def test_transient_errors_back_off_then_give_up_with_the_original_error(no_sleep):
    fn = Flaky(*[TransientError("503", crm="pipedrive", status=503) for _ in range(10)])
    with pytest.raises(TransientError):
        retry.call(fn, sleep=no_sleep, attempts=4)
    assert fn.calls == 4 and len(no_sleep.waits) == 3
    assert all(w > 0 for w in no_sleep.waits)


def test_non_idempotent_calls_are_not_resent_after_a_transient_error(no_sleep):
    fn = Flaky(TransientError("connection reset", crm="salesforce"))
    with pytest.raises(TransientError):
        retry.call(fn, idempotent=False, sleep=no_sleep)
    assert fn.calls == 1


@pytest.mark.parametrize("error", [PermanentError("bad", crm="x", status=400), AuthExpired("exp", crm="x")])
def test_permanent_and_auth_errors_are_not_retried(no_sleep, error):
    fn = Flaky(error)
    with pytest.raises(type(error)):
        retry.call(fn, sleep=no_sleep)
    assert fn.calls == 1
