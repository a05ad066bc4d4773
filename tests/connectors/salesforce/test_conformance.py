"""The conformance suite every connector runs (`sync.testing.conformance`), against the Salesforce sandbox."""

from __future__ import annotations

from typing import Any

from sync.testing.conformance import ConformanceSuite, Harness

QUERY = "/services/data/v59.0/query"


class SalesforceHarness(Harness):
    crm = "salesforce"
    contacts_path = QUERY
    health_path = "/services/data/v59.0/limits"
    push_path = "/services/data/v59.0/composite/sobjects"
    push_method = "PATCH"
    # Sforce-Limit-Info replaces the configured limit with the org's own: the reserve is what stays ours
    tiny_daily_budget = {"daily_reserve": 99_998}

    def throttle(self, sandbox: Any, retry_after: str, times: int = 1, path: str | None = None) -> None:
        sandbox.faults.add("rate_limit", times, path=path or QUERY, status=429, retry_after=retry_after)

    def refuse_credentials(self, sandbox: Any) -> None:
        sandbox.revoke_refresh_token()
        sandbox.expire_sessions()


class TestSalesforceConformance(ConformanceSuite):
    harness = SalesforceHarness()
