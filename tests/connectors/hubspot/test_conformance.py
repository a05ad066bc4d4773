"""The conformance suite every connector runs (`sync.testing.conformance`), against the HubSpot sandbox."""

from __future__ import annotations

from typing import Any

from sync.testing.conformance import ConformanceSuite, Harness

CONTACTS = "/crm/v3/objects/contacts"


class HubSpotHarness(Harness):
    crm = "hubspot"
    contacts_path = CONTACTS
    health_path = CONTACTS  # the probe lists one contact: search answers carry no rate-limit headers
    push_path = CONTACTS + "/batch/update"
    push_method = "POST"
    refreshing = {"auth": "oauth"}
    tiny_daily_budget = {"limits": {"daily_calls": 3}}

    def throttle(self, sandbox: Any, retry_after: str, times: int = 1, path: str | None = None) -> None:
        sandbox.faults.add("rate_limit", times, path=path or CONTACTS, method="GET",
                           headers={"Retry-After": retry_after})


class TestHubSpotConformance(ConformanceSuite):
    harness = HubSpotHarness()
