"""Fixtures for the Salesforce connector tests: a started HTTPS sandbox on a frozen clock, a connector built
the way the daemon builds it (real simple-salesforce, only the base URL changed), and a check, run after
every test, that each request the connector sent has the documented shape.

Salesforce publishes no OpenAPI for its REST sObject API, so requests are held to the shapes of the API
documentation instead (REST API Developer Guide: "Query", "sObject Collections"; Salesforce Help: "OAuth 2.0
Refresh Token Flow"; Metadata API Developer Guide: "createMetadata()"): `check_request` below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from sync.clock import FrozenClock
from sync.synthetic import synthetic_contacts
from sync.testing.conformance import closing_factory

from connectors.salesforce import SalesforceConnector
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.server import RecordedRequest

DATA = re.compile(
    r"^/services/data/v59\.0/(query/|queryAll/|query/01g\w{15}-\d+|limits/|composite/sobjects|sobjects|"
    r"sobjects/(Lead|Contact|Opportunity|Task)/describe)$"
)


def check_request(request: RecordedRequest) -> list[str]:
    """Problems with one request against the documented REST / OAuth / Metadata API shapes."""
    problems = []
    path = request.path
    if path == "/services/oauth2/token":
        form = parse_qs(request.body.decode())
        if request.method != "POST" or form.get("grant_type", [""])[0] not in (
            "refresh_token",
            "client_credentials",
        ):
            problems.append(f"token request {request.method} {form.get('grant_type')}")
        return problems
    if path.startswith("/services/Soap/m/59.0"):
        if (
            request.method != "POST"
            or b"createMetadata" not in request.body
            or b"<ns0:sessionId>" not in request.body
        ):
            problems.append("Metadata API call is not a createMetadata envelope with a SessionHeader")
        return problems
    if not DATA.match(path):
        problems.append(f"undocumented path {path}")
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        problems.append(f"{path} without a Bearer session")
    if path.endswith(("/query/", "/queryAll/")):
        soql = parse_qs(request.query).get("q", [""])[0]
        if request.method != "GET" or not soql.startswith("SELECT ") or " FROM " not in soql:
            problems.append(f"bad SOQL request {soql[:60]!r}")
    if "/query" in path:
        options = request.headers.get("Sforce-Query-Options", "")
        size = re.fullmatch(r"batchSize=(\d+)", options)
        if not size or not 200 <= int(size.group(1)) <= 2000:
            problems.append(f"Sforce-Query-Options {options!r} outside batchSize 200-2000")
    if path.endswith("composite/sobjects"):
        body = request.json()
        records = body.get("records", [])
        if request.method != "PATCH" or body.get("allOrNone") is not False or not 1 <= len(records) <= 200:
            problems.append(
                f"collections update {request.method} allOrNone={body.get('allOrNone')} n={len(records)}"
            )
        for record in records:
            if record.get("attributes", {}).get("type") not in ("Lead", "Contact") or not record.get("id"):
                problems.append(f"collection record without type/id: {json.dumps(record)[:80]}")
    return problems


@pytest.fixture
def sandbox(clock: FrozenClock) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(clock=clock) as box:
        yield box
        problems = [p for r in box.requests.all() for p in check_request(r)]
        assert not problems, problems[:10]


@pytest.fixture
def stock(clock: FrozenClock) -> Iterator[SalesforceSandbox]:
    """An org as Salesforce delivers it: no custom fields, no access to Campaigns (so CampaignMember)."""
    with SalesforceSandbox(clock=clock, stock_org=True) as box:
        yield box
        problems = [p for r in box.requests.all() for p in check_request(r)]
        assert not problems, problems[:10]


@pytest.fixture
def make_connector(sandbox: SalesforceSandbox, clock: FrozenClock, virtual_sleep: Any) -> Iterator[Any]:
    """Builds connectors on the sandbox (settings overrides as keyword arguments) and closes them."""
    with closing_factory(lambda **overrides: SalesforceConnector(
            sandbox.settings(**overrides), account="acme", clock=clock, sleep=virtual_sleep)) as make:
        yield make


@pytest.fixture
def connector(make_connector: Callable[..., SalesforceConnector]) -> SalesforceConnector:
    return make_connector()


@pytest.fixture
def seeded(sandbox: SalesforceSandbox, clock: FrozenClock) -> dict[str, str]:
    """40 synthetic people (Leads and Contacts, with deals, activities and campaign responses)."""
    return sandbox.seed(synthetic_contacts(40, now=clock.now()))


@pytest.fixture
def pull_all() -> Callable[..., tuple[list[Any], str]]:
    """Run one whole pull: its pages and the cursor the next pull starts from."""

    def run(connector: SalesforceConnector, cursor: str | None = None) -> tuple[list[Any], str]:
        pages = list(connector.pull(cursor))
        return pages, pages[-1].cursor

    return run
