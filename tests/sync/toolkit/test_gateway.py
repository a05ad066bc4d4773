"""The gateway on its own, with a scripted transport: the order of one attempt, one retry policy, one
renewal per call, Retry-After in both forms, what health() makes of the latest answer."""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from email.utils import format_datetime

import pytest

from sync.clock import FrozenClock
from sync.errors import AuthExpired, AuthFailed, PermanentError, RateLimited, TransientError
from sync.toolkit.gateway import AUTH, Answer, Call, Dialect, Gateway, Limits, RetrySettings
from sync.toolkit.headers import retry_after
from sync.toolkit.tokens import Grant, RefreshingToken, StaticToken

LIMITS = Limits(daily=100, windows={"burst": (10, 1.0)})


class Script:
    """A transport that answers from a list and records the grant each request carried."""

    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = deque(answers)
        self.grants: list[str | None] = []

    def __call__(self, grant: Grant | None) -> Answer:
        self.grants.append(grant.access_token if grant else None)
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(body: bytes = b'{"ok": true}', **headers: str) -> Answer:
    return Answer(200, headers, body)


def gateway(clock: FrozenClock, sleep, *, credentials=None, attempts: int = 5, dialect=None) -> Gateway:
    return Gateway(dialect or Dialect(), credentials or StaticToken("static-token-1", fix="rotate it"), LIMITS,
                   clock, RetrySettings(attempts=attempts, max_wait_s=120.0), sleep)


class Tokens:
    """A token endpoint handing out numbered tokens valid for 30 minutes."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.issued = 0

    def __call__(self, refresh_token: str | None) -> Grant:
        self.issued += 1
        return Grant(f"access-{self.issued:04d}", self.clock.now() + timedelta(minutes=30))


def test_a_2xx_body_is_parsed_and_counted_under_its_category(clock, no_sleep):
    gate = gateway(clock, no_sleep)
    assert gate.call(Call("contacts", "list"), Script(ok())).data == {"ok": True}
    assert gate.calls == {"contacts": 1} and gate.pacing.daily.remaining == 99


@pytest.mark.parametrize("answer", [Answer(503, {}), Answer(200, {}, b'{"results": ['),
                                    ConnectionError("reset")])
def test_server_errors_malformed_bodies_and_dropped_connections_are_retried(clock, no_sleep, answer):
    class Connections(Dialect):
        def transport_error(self, exc, call):
            return TransientError("dropped", crm="crm") if isinstance(exc, ConnectionError) else None

    script = Script(answer, answer, ok())
    assert gateway(clock, no_sleep, dialect=Connections()).call(Call("contacts", "list"), script).data == {"ok": True}
    assert len(script.grants) == 3 and len(no_sleep.waits) == 2


def test_the_attempts_are_the_settings_attempts_and_the_last_error_surfaces(clock, no_sleep):
    script = Script(*[Answer(500, {}) for _ in range(10)])
    with pytest.raises(TransientError):
        gateway(clock, no_sleep, attempts=3).call(Call("contacts", "list"), script)
    assert len(script.grants) == 3


def test_a_non_idempotent_call_is_not_resent_after_a_server_error(clock, no_sleep):
    script = Script(Answer(502, {}), ok())
    with pytest.raises(TransientError):
        gateway(clock, no_sleep).call(Call("setup", "create", idempotent=False), script)
    assert len(script.grants) == 1


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_waited_in_either_form(clock, no_sleep, form):
    value = "7" if form == "seconds" else format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    script = Script(Answer(429, {"Retry-After": value}), ok())
    gateway(clock, no_sleep).call(Call("contacts", "list"), script)
    assert no_sleep.waits == [7.0]


def test_retry_after_reads_case_and_clock_skew_safely(clock):
    now = clock.now()
    assert retry_after({"retry-after": " 12 "}, now) == 12.0
    assert retry_after({"Retry-After": format_datetime(now - timedelta(minutes=1), usegmt=True)}, now) == 0.0
    assert retry_after({"Retry-After": "soon"}, now) is None and retry_after({}, now) is None


def test_an_expired_token_is_renewed_once_inside_the_attempt(clock, no_sleep):
    tokens = Tokens(clock)
    credentials = RefreshingToken(tokens, clock=clock, margin=timedelta(minutes=5), crm="crm")
    script = Script(ok(), Answer(401, {}), ok())
    gate = gateway(clock, no_sleep, credentials=credentials)
    gate.call(Call("contacts", "list"), script)  # no token yet: fetched before the first request
    gate.call(Call("contacts", "list"), script)
    assert script.grants == ["access-0001", "access-0001", "access-0002"]
    assert tokens.issued == 2 and no_sleep.waits == []


def test_a_token_rejected_right_after_renewal_fails_the_account_without_retrying(clock, no_sleep):
    credentials = RefreshingToken(Tokens(clock), clock=clock, margin=timedelta(minutes=5), crm="crm")
    script = Script(Answer(401, {}), Answer(401, {}), ok())
    with pytest.raises(AuthFailed, match="just issued"):
        gateway(clock, no_sleep, credentials=credentials).call(Call("contacts", "list"), script)
    assert len(script.grants) == 2 and no_sleep.waits == []


def test_renewal_happens_once_per_call_even_across_retried_attempts(clock, no_sleep):
    tokens = Tokens(clock)
    credentials = RefreshingToken(tokens, clock=clock, margin=timedelta(minutes=5), crm="crm")
    script = Script(Answer(401, {}), Answer(503, {}), Answer(401, {}))
    with pytest.raises(AuthFailed):
        gateway(clock, no_sleep, credentials=credentials).call(Call("contacts", "list"), script)
    assert tokens.issued == 2  # the first grant, one renewal: never twice in one call


def test_a_token_about_to_expire_is_refreshed_before_use(clock, no_sleep):
    tokens = Tokens(clock)
    gate = gateway(clock, no_sleep, credentials=RefreshingToken(tokens, clock=clock, margin=timedelta(minutes=5),
                                                                crm="crm"))
    gate.call(Call("contacts", "list"), Script(ok()))
    clock.advance(timedelta(minutes=26))
    script = Script(ok())
    gate.call(Call("contacts", "list"), script)
    assert script.grants == ["access-0002"]


def test_a_static_token_that_is_rejected_stops_the_account_with_the_fix(clock, no_sleep):
    with pytest.raises(AuthFailed, match="rotate it"):
        gateway(clock, no_sleep).call(Call("contacts", "list"), Script(Answer(401, {})))


def test_the_daily_budget_refuses_before_sending_and_is_never_slept_through(clock, no_sleep):
    gate = Gateway(Dialect(), StaticToken("static-token-1", fix="rotate it"),
                   Limits(daily=3, windows={"burst": (10, 1.0)}), clock, RetrySettings(), no_sleep)
    script = Script(ok(), ok(), ok(), ok())
    for _ in range(3):
        gate.call(Call("contacts", "list"), script)
    with pytest.raises(RateLimited) as caught:
        gate.call(Call("contacts", "list"), script)
    assert caught.value.scope == "daily" and len(script.grants) == 3 and no_sleep.waits == []


def test_a_full_window_waits_even_with_a_frozen_clock_and_a_recording_sleep(clock, no_sleep):
    gate = Gateway(Dialect(), StaticToken("static-token-1", fix="rotate it"),
                   Limits(daily=None, windows={"burst": (2, 1.0)}), clock, RetrySettings(), no_sleep)
    script = Script(*[ok() for _ in range(5)])
    for _ in range(5):
        gate.call(Call("contacts", "list"), script)
    assert sum(no_sleep.waits) == pytest.approx(2.0)  # 5 calls at 2 a second: two full windows waited


def test_token_requests_are_counted_as_auth_and_their_errors_read_by_the_dialect(clock, no_sleep):
    class TokenEndpoint(Dialect):
        def error(self, answer, call, wait):
            if call.category == AUTH:
                return AuthFailed("refused: re-authorise", crm="crm", status=answer.status)
            return super().error(answer, call, wait)

    gate = gateway(clock, no_sleep, dialect=TokenEndpoint())
    fetch = Script(Answer(400, {}, b'{"error": "invalid_grant"}'))
    gate.credentials = RefreshingToken(
        lambda refresh: Grant(gate.once(Call(AUTH, "token", authenticated=False), fetch).data["access_token"]),
        clock=clock, margin=timedelta(0), crm="crm")
    with pytest.raises(AuthFailed, match="re-authorise"):
        gate.call(Call("contacts", "list"), Script(ok()))
    assert gate.calls == {AUTH: 1}
    health = gate.verdict()
    assert health.reachable and not health.authorised and "re-authorise" in health.message


@pytest.mark.parametrize(("answer", "reachable", "authorised"), [
    (ok(), True, True),
    (Answer(429, {"Retry-After": "3"}), True, True),
    (Answer(403, {}), True, False),
    (Answer(503, {}), False, False),
])
def test_health_is_judged_from_the_latest_answer(clock, no_sleep, answer, reachable, authorised):
    gate = gateway(clock, no_sleep, attempts=1)
    health = gate.health(lambda: gate.call(Call("health", "probe"), Script(answer)))
    assert (health.reachable, health.authorised) == (reachable, authorised)
    assert health.budget.limit == 100 and health.budget.remaining == 99


def test_health_before_any_request_is_not_reachable(clock, no_sleep):
    assert not gateway(clock, no_sleep).verdict().reachable


def test_error_answers_are_never_chained_to_the_transport_exception(clock, no_sleep):
    with pytest.raises(PermanentError) as caught:
        gateway(clock, no_sleep).call(Call("push", "update"), Script(Answer(400, {}, b"{}")))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_unknown_transport_exception_is_not_swallowed(clock, no_sleep):
    with pytest.raises(KeyError):
        gateway(clock, no_sleep).call(Call("contacts", "list"), Script(KeyError("bug")))


def test_an_expired_answer_records_auth_expired_for_the_verdict(clock, no_sleep):
    gate = gateway(clock, no_sleep)
    with pytest.raises(AuthFailed):
        gate.call(Call("contacts", "list"), Script(Answer(401, {})))
    assert isinstance(gate.last.error, (AuthFailed, AuthExpired)) and not gate.verdict().authorised

