"""Every fault, through the real SDK against the sandbox: 429 bursts (waits what HubSpot says), search
throttling, 5xx, slow answers, dropped connections, malformed JSON, token expiry and refresh, daily budget
exhaustion on both sides, and secrets kept out of errors and logs."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import structlog

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.errors import AuthFailed, RateLimited, TransientError
from sync.log import configure_logging
from sync.synthetic import synthetic_contacts

CONTACTS = "/crm/v3/objects/contacts"


def pull(connector, cursor=None):
    pages = list(connector.pull(cursor))
    return [c for p in pages for c in p.contacts], pages[-1].cursor


def test_a_burst_429_waits_the_window_hubspot_reports(sandbox, connect, virtual_sleep):
    sandbox.seed(synthetic_contacts(5))
    sandbox.faults.add("rate_limit", 1, path=CONTACTS, method="GET",
                       headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "4000"})
    sandbox.faults.add("rate_limit", 1, path=CONTACTS, method="GET")
    contacts, _ = pull(connect())
    assert len(contacts) == 5
    assert virtual_sleep.waits[:2] == [4.0, 10.0]  # the header's window, then HubSpot's documented 10 s


def test_search_throttling_waits_one_second(sandbox, connect, virtual_sleep, clock):
    sandbox.seed(synthetic_contacts(3))
    connector = connect()
    _, cursor = pull(connector)
    clock.advance(timedelta(minutes=1))
    sandbox.faults.add("rate_limit", 2, path=f"{CONTACTS}/search")
    pull(connector, cursor)
    assert virtual_sleep.waits == [1.0, 1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(sandbox, connect, virtual_sleep, status):
    sandbox.seed(synthetic_contacts(3))
    sandbox.faults.add("server_error", 2, path=CONTACTS, method="GET", status=status)
    contacts, _ = pull(connect())
    assert len(contacts) == 3 and len(virtual_sleep.waits) == 2 and all(w > 0 for w in virtual_sleep.waits)


def test_persistent_server_errors_surface_as_transient(sandbox, connect):
    sandbox.faults.add("server_error", 10, path=CONTACTS, status=503)
    with pytest.raises(TransientError) as info:
        pull(connect(retry_attempts=3))
    assert info.value.status == 503
    assert sandbox.requests.count("GET", CONTACTS) == 3


def test_a_slow_answer_times_out_and_is_retried(sandbox, connect):
    sandbox.seed(synthetic_contacts(2))
    sandbox.faults.add("slow", 1, path=CONTACTS, method="GET", seconds=2.5)
    contacts, _ = pull(connect(timeout_s=1.0))
    assert len(contacts) == 2 and sandbox.requests.count("GET", CONTACTS) >= 2


def test_a_dropped_connection_is_retried(sandbox, connect):
    sandbox.seed(synthetic_contacts(2))
    sandbox.faults.add("drop", 1, path=CONTACTS, method="GET")
    contacts, _ = pull(connect())
    assert len(contacts) == 2


def test_malformed_json_is_never_taken_for_an_empty_page(sandbox, connect, clock):
    sandbox.seed(synthetic_contacts(4))
    connector = connect()
    _, cursor = pull(connector)
    clock.advance(timedelta(minutes=1))
    sandbox.set_field(sandbox.seed(synthetic_contacts(1, start=9))["100009"], "city", "Paris")
    clock.advance(timedelta(minutes=1))
    sandbox.faults.add("malformed", 1, path=f"{CONTACTS}/search")
    changed, _ = pull(connector, cursor)
    assert len(changed) == 1
    sandbox.faults.add("malformed", 10, path=f"{CONTACTS}/search")
    with pytest.raises(TransientError, match="malformed JSON"):
        pull(connect(retry_attempts=2), cursor)


def test_a_push_resent_after_a_dropped_answer_is_harmless(sandbox, connect):
    from sync.contract import FieldUpdate

    ids = list(sandbox.seed(synthetic_contacts(3)).values())
    connector = connect()
    connector.ensure_fields()
    sandbox.faults.add("drop", 1, path=f"{CONTACTS}/batch/update")
    results = connector.push([FieldUpdate(i, {"score": 55}) for i in ids])
    assert all(r.ok for r in results) and all(sandbox.written(i)["score"] == 55 for i in ids)


def test_oauth_refreshes_before_expiry_and_once_on_an_expired_token(sandbox, connect, clock):
    sandbox.seed(synthetic_contacts(3))
    connector = connect(auth="oauth")
    pull(connector)
    assert connector.api_calls["auth"] == 1  # no access token yet: refreshed before the first call
    clock.advance(timedelta(minutes=26))  # inside the 5-minute margin of the 30-minute lifetime
    pull(connector)
    assert connector.api_calls["auth"] == 2
    sandbox.faults.expire_token_after(2)  # HubSpot revokes the current token two calls from now
    contacts, _ = pull(connector)
    assert len(contacts) == 3 and connector.api_calls["auth"] == 3
    expired = [r for r in sandbox.requests.all() if r.status == 401]
    assert len(expired) == 1  # one 401, one refresh, one retry of that call


def test_an_expired_private_app_token_stops_the_account(sandbox, connect):
    sandbox.faults.expire_token_after(0)
    with pytest.raises(AuthFailed, match="rotate it"):
        pull(connect())


def test_a_wrong_token_is_an_auth_failure_and_no_secret_leaks(sandbox, clock, virtual_sleep):
    stream = io.StringIO()
    configure_logging(json=True, stream=stream, level="DEBUG")
    try:
        settings = sandbox.settings().model_copy(update={"access_token": __import__("pydantic").SecretStr(
            "pat-na1-wrong-token-0123456789")})
        connector = HubSpotConnector(settings, clock=clock, sleep=virtual_sleep)
        with pytest.raises(AuthFailed) as info:
            pull(connector)
        health = connector.health()
        structlog.get_logger("t").info("seen", error=info.value)
    finally:
        structlog.reset_defaults()
    assert not health.authorised and health.reachable
    text = stream.getvalue() + str(info.value) + (info.value.detail or "") + repr(info.value)
    for secret in ("pat-na1-wrong-token-0123456789", *sandbox.credentials().values()):
        assert secret not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_bad_refresh_token_is_an_auth_failure(sandbox, clock, virtual_sleep):
    from pydantic import SecretStr

    settings = sandbox.settings(auth="oauth").model_copy(update={"refresh_token": SecretStr("na1-revoked-0000")})
    with pytest.raises(AuthFailed, match="re-authorise"):
        pull(HubSpotConnector(settings, clock=clock, sleep=virtual_sleep))


def test_hubspot_daily_limit_parks_the_account_without_sleeping(sandbox, connect, virtual_sleep):
    sandbox.faults.add("rate_limit", 1, path=CONTACTS, policy="DAILY")
    with pytest.raises(RateLimited) as info:
        pull(connect())
    assert info.value.scope == "daily" and info.value.retry_after == pytest.approx(15 * 3600)  # to midnight UTC
    assert virtual_sleep.waits == []


def test_the_client_side_daily_budget_refuses_before_sending(sandbox, connect, virtual_sleep):
    sandbox.seed(synthetic_contacts(2))
    connector = connect(limits={"daily_calls": 3})
    with pytest.raises(RateLimited) as info:
        pull(connector)
    assert info.value.scope == "daily" and virtual_sleep.waits == []
    assert len(sandbox.requests.all()) == 3


def test_enforced_limits_are_met_by_pacing_not_by_429s(clock, virtual_sleep):
    with HubSpotSandbox(clock=clock, enforce_limits=True) as sandbox:
        sandbox.limits.burst = 4
        sandbox.seed(synthetic_contacts(30))
        paced = HubSpotConnector(sandbox.settings(list_page_size=5, limits={"burst_calls": 4}), clock=clock,
                                 sleep=virtual_sleep)
        contacts, _ = pull(paced)
        assert len(contacts) == 30
        assert not [r for r in sandbox.requests.all() if r.status == 429]
        assert sum(virtual_sleep.waits) >= 10.0  # 7+ list calls plus reads at 4 per 10 s
        sandbox.requests.clear()
        eager = HubSpotConnector(sandbox.settings(list_page_size=5), clock=clock, sleep=virtual_sleep)
        assert len(pull(eager)[0]) == 30  # it learns from the headers and the 429s, and still finishes
        throttled = [r for r in sandbox.requests.all() if r.status == 429]
        assert len(throttled) <= 2
        body = json.loads(sandbox.exchanges[-1].response) if throttled else {}
        assert body.get("policyName", "TEN_SECONDLY_ROLLING") == "TEN_SECONDLY_ROLLING"
        sandbox.limits.daily = len(sandbox.requests.all())  # the account's daily allowance is now spent
        with pytest.raises(RateLimited) as info:
            pull(eager)
        assert info.value.scope == "daily"
        paced.close()
        eager.close()
