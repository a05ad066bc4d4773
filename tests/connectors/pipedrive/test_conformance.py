"""The conformance suite every connector runs (`sync.testing.conformance`), against the Pipedrive sandbox."""

from __future__ import annotations

from sync.testing.conformance import ConformanceSuite, Harness


class PipedriveHarness(Harness):
    crm = "pipedrive"
    contacts_path = "/api/v2/persons"
    health_path = "/api/v1/users/me"  # on a company domain v1 lives under /api/v1
    push_path = "/api/v2/persons/"
    push_method = "PATCH"
    refreshing = {"oauth": True}
    tiny_daily_budget = {"daily_token_budget": 25}  # the person fields (20) and stages (5), then nothing


class TestPipedriveConformance(ConformanceSuite):
    harness = PipedriveHarness()
