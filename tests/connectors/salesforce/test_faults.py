"""Every fault the sandbox can schedule, met by the real client: throttling waits what the API says, server
errors / timeouts / dropped connections / malformed bodies are retried, an expired session is renewed once,
the daily allocation stops the account without sleeping, and no credential reaches a log or an error."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from sync.contract import FieldUpdate
from sync.errors import AuthFailed, RateLimited
from sync.log import configure_logging

from connectors.salesforce import SalesforceConnector
from connectors.sandbox.salesforce import SalesforceSandbox

QUERY = "/services/data/v59.0/query"


def pulled(connector, cursor=None):
    return [c for p in connector.pull(cursor) for c in p.contacts]


def test_throttling_waits_what_the_api_says(sandbox, seeded, connector, no_sleep):
    sandbox.faults.add("rate_limit", 2, path=QUERY, status=429, retry_after=7)
    assert len(pulled(connector)) == len(seeded)
    assert no_sleep.waits[:2] == [7.0, 7.0]


def test_concurrency_refusal_without_retry_after_waits_the_configured_time(
    sandbox, seeded, make_connector, no_sleep
):
    sandbox.faults.add("rate_limit", path=QUERY)  # 403 REQUEST_LIMIT_EXCEEDED ConcurrentPerOrgLongTxn
    assert len(pulled(make_connector(throttle_retry_after_s=12.5))) == len(seeded)
    assert no_sleep.waits == [12.5]


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_with_backoff(sandbox, seeded, connector, no_sleep, status):
    sandbox.faults.add("server_error", 2, path=QUERY, status=status)
    assert len(pulled(connector)) == len(seeded)
    assert len(no_sleep.waits) == 2 and all(0 < w < 5 for w in no_sleep.waits)


def test_a_failed_push_is_resent_because_collection_updates_are_idempotent(
    sandbox, seeded, connector, no_sleep
):
    connector.ensure_fields()
    target = next(iter(seeded.values()))
    sandbox.faults.add("server_error", path="/services/data/v59.0/composite/sobjects")
    assert connector.push([FieldUpdate(target, {"score": 61})])[0].ok
    assert sandbox.written(target)["score"] == 61 and len(no_sleep.waits) == 1


def test_a_slow_answer_times_out_and_is_retried(sandbox, seeded, make_connector, no_sleep):
    sandbox.faults.add("slow", path=QUERY, seconds=2.5)
    connector = make_connector(timeout_s=1.0)
    assert len(pulled(connector)) == len(seeded)
    assert len(no_sleep.waits) == 1


def test_a_dropped_connection_is_retried(sandbox, seeded, connector, no_sleep):
    sandbox.faults.add("drop", path=QUERY)
    assert len(pulled(connector)) == len(seeded)
    assert len(no_sleep.waits) == 1


def test_a_malformed_body_is_retried(sandbox, seeded, connector, no_sleep):
    sandbox.faults.add("malformed", path=QUERY, body='{"totalSize": 3, "records": [')
    assert len(pulled(connector)) == len(seeded)
    assert len(no_sleep.waits) == 1


def test_an_expired_session_is_renewed_once_and_the_call_resent(sandbox, seeded, connector):
    sandbox.faults.expire_token_after(4)
    assert len(pulled(connector)) == len(seeded)
    assert connector.api_calls["auth"] == 2
    tokens = [r for r in sandbox.requests.all() if r.path == "/services/oauth2/token"]
    assert len(tokens) == 2 and [r.status for r in sandbox.requests.all()].count(401) == 1


def test_the_metadata_api_renews_an_expired_session_too(sandbox, connector):
    connector.health()  # authenticated
    sandbox.faults.add("expire_token", path="/services/Soap/")
    report = connector.ensure_fields()
    assert len(report.created) == 26 and connector.api_calls["auth"] == 2


def test_session_timeout_on_the_org_clock_renews_the_session(sandbox, seeded, connector, clock):
    _ = pulled(connector)
    clock.advance(timedelta(hours=3))
    assert connector.health().authorised
    assert connector.api_calls["auth"] == 2


def test_a_session_refused_right_after_renewal_is_an_auth_failure(sandbox, seeded, connector):
    sandbox.faults.add("expire_token", 2, path=QUERY)
    with pytest.raises(AuthFailed, match="just issued"):
        pulled(connector)


def test_revoked_credentials_stop_the_account_with_a_clear_message(sandbox, connector):
    sandbox.revoke_refresh_token()
    with pytest.raises(AuthFailed) as caught:
        pulled(connector)
    assert "invalid_grant" in caught.value.user_message
    health = connector.health()
    assert not health.authorised and "invalid_grant" in health.message


def test_daily_allocation_exhausted_at_the_org_is_not_slept_through(clock, no_sleep):
    with SalesforceSandbox(clock=clock, enforce_limits=True, daily_limit=6) as box:
        box.seed([])
        first = SalesforceConnector(box.settings(daily_reserve=0), clock=clock, sleep=no_sleep)
        with pytest.raises(
            RateLimited
        ) as caught:  # it learns the count from Sforce-Limit-Info and stops itself
            for _ in range(4):
                pulled(first)
        assert caught.value.scope == "daily" and caught.value.status is None
        second = SalesforceConnector(box.settings(daily_reserve=0), clock=clock, sleep=no_sleep)
        with pytest.raises(RateLimited) as caught:  # one that knows nothing yet meets the org's 403
            pulled(second)
        assert caught.value.scope == "daily" and caught.value.status == 403
        assert "TotalRequests" in caught.value.user_message and no_sleep.waits == []
        first.close()
        second.close()


def test_daily_refusal_scheduled_as_a_fault_is_not_retried(sandbox, seeded, connector, no_sleep):
    sandbox.faults.add("rate_limit", path=QUERY, scope="daily")
    with pytest.raises(RateLimited) as caught:
        pulled(connector)
    assert caught.value.scope == "daily" and no_sleep.waits == []


def test_the_reserve_is_kept_from_what_sforce_limit_info_reports(clock, no_sleep):
    with SalesforceSandbox(clock=clock, daily_limit=20) as box:
        connector = SalesforceConnector(
            box.settings(daily_limit=20, daily_reserve=14), clock=clock, sleep=no_sleep
        )
        with pytest.raises(RateLimited) as caught:
            for _ in range(10):
                pulled(connector)
        assert caught.value.scope == "daily" and caught.value.status is None  # refused here, not by the org
        sent = box.requests.count(path_prefix="/services/data")
        assert sent <= 6 and no_sleep.waits == []
        connector.close()


def test_health_reports_the_daily_allocation(sandbox, connector):
    health = connector.health()
    assert health.reachable and health.authorised
    assert health.budget.limit == 100_000 and 0 < health.budget.remaining < 100_000


def test_no_credential_reaches_logs_or_error_texts(sandbox, seeded, connector):
    stream = io.StringIO()
    configure_logging(json=True, level="DEBUG", stream=stream)
    try:
        sandbox.faults.add("server_error", path=QUERY)
        sandbox.faults.expire_token_after(2)
        _ = pulled(connector)
        sandbox.revoke_refresh_token()
        sandbox.expire_sessions()
        with pytest.raises(AuthFailed) as caught:
            pulled(connector)
    finally:
        configure_logging(json=True)
    text = stream.getvalue() + str(caught.value) + repr(connector.settings)
    secrets = sandbox.credentials().values()
    assert "api_call_retry" in stream.getvalue()
    assert all(secret not in text for secret in secrets)


def test_client_credentials_flow_authenticates_without_a_refresh_token(sandbox, seeded, make_connector):
    connector = make_connector(auth_flow="client_credentials", refresh_token=None)
    assert len(pulled(connector)) == len(seeded)
    grants = [r.body.decode() for r in sandbox.requests.all() if r.path == "/services/oauth2/token"]
    assert grants and all("grant_type=client_credentials" in g and "refresh_token" not in g for g in grants)
