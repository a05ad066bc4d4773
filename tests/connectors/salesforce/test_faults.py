"""What only Salesforce does when things go wrong (the faults every connector meets are in the conformance
suite): a concurrency refusal without Retry-After, sessions renewed for the Metadata API and on the org's
session timeout, an `invalid_grant`, the daily allocation in `Sforce-Limit-Info` and its reserve, the
client-credentials flow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.errors import AuthFailed, RateLimited

from connectors.salesforce import SalesforceConnector
from connectors.sandbox.salesforce import SalesforceSandbox

QUERY = "/services/data/v59.0/query"


def pulled(connector, cursor=None):
    return [c for p in connector.pull(cursor) for c in p.contacts]


def test_concurrency_refusal_without_retry_after_waits_the_configured_time(
    sandbox, seeded, make_connector, virtual_sleep
):
    sandbox.faults.add("rate_limit", path=QUERY)  # 403 REQUEST_LIMIT_EXCEEDED ConcurrentPerOrgLongTxn
    assert len(pulled(make_connector(throttle_retry_after_s=12.5))) == len(seeded)
    assert virtual_sleep.waits == [12.5]


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


def test_revoked_credentials_stop_the_account_with_a_clear_message(sandbox, connector):
    sandbox.revoke_refresh_token()
    with pytest.raises(AuthFailed) as caught:
        pulled(connector)
    assert "invalid_grant" in caught.value.user_message
    health = connector.health()
    assert not health.authorised and "invalid_grant" in health.message


def test_daily_allocation_exhausted_at_the_org_is_not_slept_through(clock, virtual_sleep):
    with SalesforceSandbox(clock=clock, enforce_limits=True, daily_limit=6) as box:
        box.seed([])
        first = SalesforceConnector(box.settings(daily_reserve=0), clock=clock, sleep=virtual_sleep)
        with pytest.raises(
            RateLimited
        ) as caught:  # it learns the count from Sforce-Limit-Info and stops itself
            for _ in range(4):
                pulled(first)
        assert caught.value.scope == "daily" and caught.value.status is None
        second = SalesforceConnector(box.settings(daily_reserve=0), clock=clock, sleep=virtual_sleep)
        with pytest.raises(RateLimited) as caught:  # one that knows nothing yet meets the org's 403
            pulled(second)
        assert caught.value.scope == "daily" and caught.value.status == 403
        assert "TotalRequests" in caught.value.user_message and virtual_sleep.waits == []
        first.close()
        second.close()


def test_daily_refusal_scheduled_as_a_fault_is_not_retried(sandbox, seeded, connector, virtual_sleep):
    sandbox.faults.add("rate_limit", path=QUERY, scope="daily")
    with pytest.raises(RateLimited) as caught:
        pulled(connector)
    assert caught.value.scope == "daily" and virtual_sleep.waits == []


def test_the_reserve_is_kept_from_what_sforce_limit_info_reports(clock, virtual_sleep):
    with SalesforceSandbox(clock=clock, daily_limit=20) as box:
        connector = SalesforceConnector(
            box.settings(daily_limit=20, daily_reserve=14), clock=clock, sleep=virtual_sleep
        )
        with pytest.raises(RateLimited) as caught:
            for _ in range(10):
                pulled(connector)
        assert caught.value.scope == "daily" and caught.value.status is None  # refused here, not by the org
        sent = box.requests.count(path_prefix="/services/data")
        assert sent <= 6 and virtual_sleep.waits == []
        connector.close()


def test_health_reports_the_daily_allocation(sandbox, connector):
    health = connector.health()
    assert health.reachable and health.authorised
    assert health.budget.limit == 100_000 and 0 < health.budget.remaining < 100_000


def test_client_credentials_flow_authenticates_without_a_refresh_token(sandbox, seeded, make_connector):
    connector = make_connector(auth_flow="client_credentials", refresh_token=None)
    assert len(pulled(connector)) == len(seeded)
    grants = [r.body.decode() for r in sandbox.requests.all() if r.path == "/services/oauth2/token"]
    assert grants and all("grant_type=client_credentials" in g and "refresh_token" not in g for g in grants)
