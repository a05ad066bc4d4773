"""Fixtures for the Pipedrive connector tests: a started sandbox sharing the test's frozen clock, a
connector factory whose sleep moves that clock (the shared `virtual_sleep`: pacing and retries take no
real time), and the official OpenAPI files (found by the shared `find_specs`), loaded once per worker,
against which every request the connector sent and every answer the sandbox gave are validated when the
test ends.

The published specs need three documented corrections before a validator can read them as the API
behaves (each is stated in the spec's own prose, only the schema disagrees):
- `include_fields` and deal `status` are "comma separated" lists whose schema is a single enum value:
  each item is checked against the enum instead;
- list answers end with `next_cursor: null` ("will be null if you have reached the end") and optional
  links such as a person's `org_id` are null when unset, but no response property is marked nullable:
  response properties accept null;
- v1 timestamps are `YYYY-MM-DD HH:MM:SS` (the spec's own examples) though typed `format: date-time`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from connectors.pipedrive import PipedriveConnector, PipedriveSettings
from connectors.sandbox.pipedrive import PipedriveSandbox
from sync.clock import FrozenClock
from sync.testing.conformance import closing_factory

SPEC_FILES = ("openapi-v2.yml", "openapi-v1.yml")
CONNECTOR_UA = PipedriveSettings.model_fields["user_agent"].default
LIST_PARAMS = frozenset({"include_fields", "status"})


def _correct(node: Any, *, in_response: bool, v1: bool) -> Any:
    """Apply the corrections listed in this module's docstring, recursively."""
    if isinstance(node, list):
        return [_correct(item, in_response=in_response, v1=v1) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("example", "examples"):
            out[key] = value  # data, not schema
        else:
            out[key] = _correct(value, in_response=in_response or key == "responses", v1=v1)
    if out.get("in") == "query" and out.get("name") in LIST_PARAMS and "enum" in out.get("schema", {}):
        items = "|".join(out["schema"]["enum"])
        out["schema"] = {"type": "string", "pattern": f"^({items})(,({items}))*$"}
    if in_response and isinstance(out.get("type"), str):
        out["nullable"] = True
        if v1 and out.get("format") == "date-time":
            del out["format"]
    return out


@lru_cache(maxsize=1)
def _specs(directory: str) -> tuple[OpenAPI, OpenAPI]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded = []
    for name, v1 in (("openapi-v2.yml", False), ("openapi-v1.yml", True)):
        with open(Path(directory) / name, encoding="utf-8") as handle:
            raw = yaml.load(handle, Loader=loader)
        # the files are reference data: validate traffic against them, not the files themselves (slow)
        loaded.append(
            OpenAPI.from_dict(_correct(raw, in_response=False, v1=v1), config=Config(spec_validator_cls=None))
        )
    return loaded[0], loaded[1]


@pytest.fixture(scope="session")
def openapi(find_specs: Callable[..., Path]) -> tuple[OpenAPI, OpenAPI]:
    """(v2, v1) validators built from the official files, once per worker."""
    return _specs(str(find_specs("pipedrive", *SPEC_FILES)))


def as_spec_request(
    openapi: tuple[OpenAPI, OpenAPI], method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> tuple[Any, OpenAPI | None]:
    """A recorded request re-addressed to the host and base path the spec's `servers` name."""
    v2, v1 = openapi
    if path.startswith("/api/v2/"):
        spec, base = v2, "https://api.pipedrive.com"
    elif path == "/oauth/token":
        spec, base = v1, "https://oauth.pipedrive.com"
    elif path.startswith(("/v1/", "/api/v1/")):
        spec, base, path = v1, "https://api.pipedrive.com", "/v1/" + path.split("/v1/", 1)[1]
    else:
        return None, None
    builder = EnvironBuilder(
        method=method,
        base_url=base,
        path=path,
        query_string=query,
        data=body or None,
        headers={k: v for k, v in headers.items() if k.lower() != "host"},
    )
    return WerkzeugOpenAPIRequest(Request(builder.get_environ())), spec


def validate_traffic(sandbox: PipedriveSandbox, openapi: tuple[OpenAPI, OpenAPI], *,
                     answers: bool = True) -> list[str]:
    """Problems in what the connector sent and (`answers`) in the 2xx answers the sandbox gave it."""
    problems = []
    for recorded in sandbox.requests.all():
        if recorded.headers.get("User-Agent") != CONNECTOR_UA:
            continue  # a test poking the sandbox directly, on purpose
        request, spec = as_spec_request(
            openapi,
            recorded.method, recorded.path, recorded.query, recorded.headers, recorded.body
        )
        if spec is None:
            problems.append(f"{recorded.method} {recorded.path}: not a Pipedrive API path")
            continue
        try:
            with warnings.catch_warnings():  # openapi-core cannot check oauth2 schemes and says so
                warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
                spec.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of validation errors
            problems.append(f"request {recorded.method} {recorded.path}?{recorded.query}: {exc}")
    for http_request, http_response in sandbox.exchanges if answers else ():
        if http_request.headers.get("User-Agent") != CONNECTOR_UA or http_response.status_code >= 300:
            continue
        request, spec = as_spec_request(
            openapi,
            http_request.method,
            http_request.path,
            http_request.query_string.decode(),
            dict(http_request.headers),
            http_request.get_data(),
        )
        if spec is None:
            continue
        try:
            spec.validate_response(request, WerkzeugOpenAPIResponse(http_response))
        except Exception as exc:
            problems.append(f"response to {http_request.method} {http_request.path}: {exc}")
    return problems


def _sandbox(
    clock: FrozenClock, openapi: tuple[OpenAPI, OpenAPI], *, answers: bool = True, **options: Any
) -> Iterator[PipedriveSandbox]:
    with PipedriveSandbox(clock=clock, record_exchanges=True, **options) as sandbox:
        yield sandbox
        problems = validate_traffic(sandbox, openapi, answers=answers)
        assert not problems, "traffic off the official OpenAPI files:\n" + "\n".join(problems[:20])


@pytest.fixture
def sandbox(clock: FrozenClock, openapi: tuple[OpenAPI, OpenAPI]) -> Iterator[PipedriveSandbox]:
    yield from _sandbox(clock, openapi)


@pytest.fixture
def hostile_sandbox(clock: FrozenClock, openapi: tuple[OpenAPI, OpenAPI]) -> Iterator[PipedriveSandbox]:
    """A sandbox whose answers carry records off the specs on purpose (`serve`: an id of another shape, a
    time that is not RFC 3339...): the connector's requests are still checked, its answers are not."""
    yield from _sandbox(clock, openapi, answers=False)


@pytest.fixture
def limited_sandbox(clock: FrozenClock, openapi: tuple[OpenAPI, OpenAPI]) -> Iterator[PipedriveSandbox]:
    """Enforces Lite limits, with a small daily budget so exhausting it takes a few calls."""
    yield from _sandbox(clock, openapi, enforce_limits=True, daily_tokens=200)


@pytest.fixture
def spec_request(openapi: tuple[OpenAPI, OpenAPI]) -> Callable[..., tuple[Any, OpenAPI | None]]:
    """Builds a spec-addressed request from recorded parts (see `as_spec_request`)."""
    return partial(as_spec_request, openapi)


ConnectorFactory = Callable[..., PipedriveConnector]


@pytest.fixture
def make_connector(
    sandbox: PipedriveSandbox, clock: FrozenClock, virtual_sleep: Callable[[float], None]
) -> Iterator[ConnectorFactory]:
    """Builds connectors (`oauth=True`: an OAuth installation; `target=`: another sandbox) and closes them."""

    def build(*, oauth: bool = False, target: PipedriveSandbox | None = None, **overrides: Any) -> PipedriveConnector:
        box = target or sandbox
        settings = box.oauth_settings(**overrides) if oauth else box.settings(**overrides)
        return PipedriveConnector(settings, account="acme", clock=clock, sleep=virtual_sleep)

    with closing_factory(build) as make:
        yield make


def body_of(response: Response) -> Any:
    return json.loads(response.get_data())
