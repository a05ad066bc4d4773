"""What only HubSpot does when things go wrong (the faults every connector meets are in the conformance
suite): the burst and search windows it names, its JSON and HTML error pages, the OAuth token's announced
lifetime, a private-app token that cannot be refreshed, its DAILY policy, and pacing by its headers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.errors import AuthFailed, RateLimited
from sync.synthetic import synthetic_contacts

CONTACTS = "/crm/v3/objects/contacts"


def pull(connector, cursor=None):
    pages = list(connector.pull(cursor))
    return [c for p in pages for c in p.contacts], pages[-1].cursor


def test_a_burst_429_waits_the_window_hubspot_reports(sandbox, make_connector, virtual_sleep):
    sandbox.seed(synthetic_contacts(5))
    sandbox.faults.add("rate_limit", 1, path=CONTACTS, method="GET",
                       headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "4000"})
    sandbox.faults.add("rate_limit", 1, path=CONTACTS, method="GET")
    contacts, _ = pull(make_connector())
    assert len(contacts) == 5
    assert virtual_sleep.waits[:2] == [4.0, 10.0]  # the header's window, then HubSpot's documented 10 s


def test_search_throttling_waits_one_second(sandbox, make_connector, virtual_sleep, clock):
    sandbox.seed(synthetic_contacts(3))
    connector = make_connector()
    _, cursor = pull(connector)
    clock.advance(timedelta(minutes=1))
    sandbox.faults.add("rate_limit", 2, path=f"{CONTACTS}/search")
    pull(connector, cursor)
    # the two 429s wait HubSpot's second; then the searches of deals and engagements pace themselves to
    # the 5 a second of the search limit
    assert virtual_sleep.waits[:2] == [1.0, 1.0] and all(wait <= 1.0 for wait in virtual_sleep.waits)


@pytest.mark.parametrize("status", [500, 502, 504])  # HubSpot's JSON 500 and its gateway's HTML pages
def test_hubspot_error_pages_are_retried_with_backoff(sandbox, make_connector, virtual_sleep, status):
    sandbox.seed(synthetic_contacts(3))
    sandbox.faults.add("server_error", 2, path=CONTACTS, method="GET", status=status)
    contacts, _ = pull(make_connector())
    assert len(contacts) == 3 and len(virtual_sleep.waits) == 2 and all(w > 0 for w in virtual_sleep.waits)


def test_an_oauth_token_is_refreshed_before_its_announced_lifetime_runs_out(sandbox, make_connector, clock):
    sandbox.seed(synthetic_contacts(3))
    connector = make_connector(auth="oauth")
    pull(connector)
    assert connector.api_calls["auth"] == 1  # no access token yet: refreshed before the first call
    clock.advance(timedelta(minutes=26))  # inside the 5-minute margin of the 30-minute lifetime
    pull(connector)
    assert connector.api_calls["auth"] == 2
    assert all(r.status != 401 for r in sandbox.requests.all())


def test_an_expired_private_app_token_stops_the_account(sandbox, make_connector):
    sandbox.faults.expire_token_after(0)
    with pytest.raises(AuthFailed, match="rotate it"):
        pull(make_connector())


def test_a_bad_refresh_token_is_an_auth_failure(sandbox, clock, virtual_sleep):
    from pydantic import SecretStr

    settings = sandbox.settings(auth="oauth").model_copy(update={"refresh_token": SecretStr("na1-revoked-0000")})
    with pytest.raises(AuthFailed, match="re-authorise"):
        pull(HubSpotConnector(settings, clock=clock, sleep=virtual_sleep))


def test_hubspot_daily_limit_parks_the_account_without_sleeping(sandbox, make_connector, virtual_sleep):
    sandbox.faults.add("rate_limit", 1, path=CONTACTS, policy="DAILY")
    with pytest.raises(RateLimited) as info:
        pull(make_connector())
    assert info.value.scope == "daily" and info.value.retry_after == pytest.approx(15 * 3600)  # to midnight UTC
    assert virtual_sleep.waits == []


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
