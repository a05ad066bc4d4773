"""What only Pipedrive does when things go wrong (the faults every connector meets are in the conformance
suite): `x-ratelimit-reset`, the OAuth token's announced lifetime, a refresh token or API token refused, the
company's daily token budget in its headers, pacing under the plan's burst limit, and Cloudflare's block."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from sync.contract import FieldUpdate
from sync.errors import AuthFailed, RateLimited
from sync.synthetic import synthetic_contacts


def pull_ids(connector, cursor=None):
    return sorted(c.id for page in connector.pull(cursor) for c in page.contacts)


def count(sandbox, path, method="GET"):
    return sum(1 for r in sandbox.requests.all() if r.path == path and r.method == method)


def test_a_429_waits_the_reset_pipedrive_announced(sandbox, make_connector, virtual_sleep):
    ids = sandbox.seed(synthetic_contacts(3))
    sandbox.faults.add("rate_limit", 2, path="/api/v2/persons", reset=3)
    assert pull_ids(make_connector()) == sorted(ids.values())
    assert virtual_sleep.waits == [3.0, 3.0]
    assert count(sandbox, "/api/v2/persons") == 3


def test_an_oauth_token_about_to_expire_is_refreshed_before_use(sandbox, make_connector, clock):
    sandbox.seed(synthetic_contacts(1))
    connector = make_connector(oauth=True)
    pull_ids(connector)
    clock.advance(timedelta(seconds=3599 - 60))
    pull_ids(connector)
    assert count(sandbox, "/oauth/token", "POST") == 2
    assert all(r.status != 401 for r in sandbox.requests.all())


def test_a_revoked_refresh_token_stops_the_account(sandbox, make_connector):
    connector = make_connector(oauth=True)
    sandbox.credentials_.refresh_token = "1:7:revoked"
    with pytest.raises(AuthFailed, match="re-install"):
        pull_ids(connector)


def test_a_rejected_api_token_fails_without_retrying(sandbox, make_connector, virtual_sleep):
    sandbox.faults.add("expire_token", 1)
    with pytest.raises(AuthFailed) as caught:
        pull_ids(make_connector())
    assert caught.value.status == 401 and virtual_sleep.waits == []
    assert len(sandbox.requests.all()) == 1


def test_pipedrives_daily_429_is_a_daily_stop(limited_sandbox, make_connector, virtual_sleep):
    limited_sandbox.seed(synthetic_contacts(2))
    connector = make_connector(target=limited_sandbox, daily_token_budget=1_000_000)
    with pytest.raises(RateLimited) as caught:
        for _ in range(20):
            pull_ids(connector)
    assert caught.value.scope == "daily" and virtual_sleep.waits == []
    assert connector.client.gateway.budget().remaining < 10  # what Pipedrive counted left, not our own allowance


def test_an_injected_daily_429_is_not_retried(sandbox, make_connector, virtual_sleep):
    sandbox.faults.add("rate_limit", 1, path="/api/v1/personFields", daily=True)
    with pytest.raises(RateLimited) as caught:
        make_connector().ensure_fields()
    assert caught.value.scope == "daily" and virtual_sleep.waits == []


def test_pacing_keeps_a_lite_account_under_its_burst_limit(limited_sandbox, make_connector, virtual_sleep):
    ids = list(limited_sandbox.seed(synthetic_contacts(3)).values())
    connector = make_connector(target=limited_sandbox, daily_token_budget=10_000_000)
    limited_sandbox.limits.daily_tokens = 10_000_000
    connector.ensure_fields()
    connector.push([FieldUpdate(contact_id=ids[i % 3], values={"score": i}) for i in range(45)])
    assert all(r.status != 429 for r in limited_sandbox.requests.all())
    assert sum(virtual_sleep.waits) >= 2.0  # 60 calls at 20 per 2 s


def test_a_too_generous_burst_setting_is_corrected_by_the_headers(limited_sandbox, make_connector, virtual_sleep):
    ids = list(limited_sandbox.seed(synthetic_contacts(2)).values())
    limited_sandbox.limits.daily_tokens = 10_000_000
    connector = make_connector(target=limited_sandbox, burst_limit=500, daily_token_budget=10_000_000)
    connector.ensure_fields()
    results = connector.push([FieldUpdate(contact_id=ids[i % 2], values={"score": i}) for i in range(30)])
    assert all(r.ok for r in results)
    statuses = [r.status for r in limited_sandbox.requests.all()]
    assert 429 not in statuses and 403 not in statuses  # x-ratelimit-remaining 0 held it back in time
    assert sum(virtual_sleep.waits) >= 2.0


def test_the_sandbox_blocks_a_client_that_ignores_429s(limited_sandbox):
    token = limited_sandbox.credentials()["api_token"]
    with requests.Session() as session:
        session.headers["x-api-token"] = token
        statuses = [session.get(f"{limited_sandbox.base_url}/api/v2/stages").status_code for _ in range(24)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429 and statuses[-1] == 403
    blocked = [r for r in limited_sandbox.requests.all() if r.status == 403]
    assert blocked
