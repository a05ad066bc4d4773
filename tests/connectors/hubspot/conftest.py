"""Fixtures for the HubSpot connector tests: a sandbox on the test clock, a connector on virtual time, and
OpenAPI validation of every request the connector sent and every answer the sandbox gave.

The parts of HubSpot's official OpenAPI files the tests use live in `tests/specs/hubspot` (found by the
shared `find_specs` fixture; a missing file fails the run). Endpoints with no file there are not validated:
`POST /oauth/v1/token` (not in HubSpot's public spec collection) and `GET /crm/v3/pipelines/deals` (its
spec was not extracted).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from openapi_core import OpenAPI
from jsonschema import ValidationError
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_schema_validator import OAS30Validator, validate
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.clock import FrozenClock
from sync.testing.conformance import closing_factory

API_HOST = "https://api.hubapi.com"
SPEC_FILES = {"/crm/v3/objects/contacts": "contacts.v3.json", "/crm/v3/objects/deals": "deals.v3.json",
              "/crm/v3/objects/calls": "calls.v3.json", "/crm/v3/objects/emails": "emails.v3.json",
              "/crm/v3/objects/meetings": "meetings.v3.json", "/crm/v3/objects/notes": "notes.v3.json",
              "/crm/v3/objects/tasks": "tasks.v3.json", "/crm/v3/objects/communications": "communications.v3.json",
              "/crm/v3/objects/companies": "companies.v3.json", "/crm/v4/associations": "associations.v4.json",
              "/crm/v3/properties": "properties.v3.json"}
UNSPECIFIED = ("/oauth/v1/token", "/crm/v3/pipelines/")


@pytest.fixture(scope="session")
def hubspot_specs(find_specs: Callable[..., Path]) -> Path:
    """The folder of HubSpot's spec files (in the repository: a missing one fails the test)."""
    return find_specs("hubspot", *SPEC_FILES.values())


@cache
def spec(directory: Path, name: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(directory / name))


@cache
def error_schema(directory: Path, name: str) -> dict[str, Any]:
    """The spec's `Error` schema, with the components its references point into."""
    document = json.loads((directory / name).read_text())
    return {"$ref": "#/components/schemas/Error", "components": document["components"]}


def error_problem(directory: Path, name: str, body: bytes) -> str | None:
    """Error answers are declared as `*/*`, which openapi-core leaves unparsed: check them against `Error`."""
    try:
        validate(json.loads(body), error_schema(directory, name), cls=OAS30Validator)
    except (ValueError, ValidationError) as exc:
        return str(exc).splitlines()[0]
    return None


def spec_for(directory: Path, path: str) -> OpenAPI | None:
    for prefix, name in SPEC_FILES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return spec(directory, name)
    if path.startswith(UNSPECIFIED):
        return None
    raise AssertionError(f"no OpenAPI file covers {path}; add it to SPEC_FILES or UNSPECIFIED with a reason")


#: HubSpot accepts an object type's name or id in the path; the deals file spells it by id (0-3)
PATH_ALIASES = {"/crm/v3/objects/deals": "/crm/v3/objects/0-3"}


def as_request(method: str, path: str, query: str, body: bytes, content_type: str | None) -> Request:
    headers = {"Content-Type": content_type} if content_type else {}
    for name, alias in PATH_ALIASES.items():
        if path == name or path.startswith(name + "/"):
            path = alias + path[len(name):]
    return EnvironBuilder(base_url=API_HOST, path=path, method=method, query_string=query, data=body or None,
                          headers=headers).get_request()


def validation_problems(sandbox: HubSpotSandbox, specs: Path) -> list[str]:
    """Every recorded request, and every answer the sandbox app gave, checked against HubSpot's spec files
    in `specs`."""
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openapi-core cannot evaluate the oauth2 scheme: auth is tested apart
        for sent in sandbox.requests.all():
            api = spec_for(specs, sent.path)
            if api is None:
                continue
            try:
                api.validate_request(WerkzeugOpenAPIRequest(as_request(
                    sent.method, sent.path, sent.query, sent.body, sent.headers.get("Content-Type"))))
            except Exception as exc:  # openapi-core raises one class per kind of mismatch
                problems.append(f"request {sent.method} {sent.path}: {type(exc).__name__}: {exc.__cause__ or exc}")
        for exchange in sandbox.exchanges:
            api = spec_for(specs, exchange.path)
            if api is None or exchange.status == 429:
                continue  # 429 bodies have HubSpot's rate-limit shape (policyName, errorType), not `Error`
            if exchange.status >= 400:
                name = next(n for prefix, n in SPEC_FILES.items() if exchange.path.startswith(prefix))
                problem = error_problem(specs, name, exchange.response)
                if problem:
                    problems.append(f"error {exchange.status} to {exchange.method} {exchange.path}: {problem}")
                continue
            request = as_request(exchange.method, exchange.path, exchange.query, exchange.body,
                                 exchange.content_type or None)
            response = Response(exchange.response, status=exchange.status, content_type=exchange.response_type)
            try:
                api.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
            except Exception as exc:
                problems.append(f"response {exchange.status} to {exchange.method} {exchange.path}: "
                                f"{type(exc).__name__}: {exc.__cause__ or exc}")
    return problems


@pytest.fixture
def sandbox(clock: FrozenClock, hubspot_specs: Path) -> Iterator[HubSpotSandbox]:
    """A started sandbox; on teardown every request and answer is validated against the OpenAPI files."""
    with HubSpotSandbox(clock=clock) as box:
        yield box
        problems = validation_problems(box, hubspot_specs)
        assert not problems, "\n".join(p[:400] for p in problems[:10])


@pytest.fixture
def make_connector(sandbox: HubSpotSandbox, clock: FrozenClock, virtual_sleep: Callable[[float], None]) -> Iterator[Any]:
    """Builds connectors on the sandbox (settings overrides as keyword arguments) and closes them."""
    with closing_factory(lambda **overrides: HubSpotConnector(sandbox.settings(**overrides), clock=clock,
                                                              sleep=virtual_sleep)) as make:
        yield make


@pytest.fixture
def sent_bodies(sandbox: HubSpotSandbox) -> Any:
    """`sent_bodies(suffix)`: the JSON bodies of the requests whose path ends with `suffix`, in order."""

    def bodies(path_suffix: str) -> list[Any]:
        return [json.loads(r.body) for r in sandbox.requests.all() if r.path.endswith(path_suffix) and r.body]

    return bodies
