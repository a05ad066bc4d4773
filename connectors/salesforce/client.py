"""Salesforce on the shared gateway: its dialect (the `Sforce-Limit-Info` budget header, error answers) and
simple-salesforce as the transport. Nothing above this module sees simple-salesforce, zeep or requests
exceptions.

* One pooled `requests.Session` for everything, the REST calls and the Metadata API's zeep transport alike:
  one timeout, one User-Agent, one trust store (`ca_bundle`), and a response hook that keeps each answer's
  headers for the gateway to read (errors included).
* OAuth 2.0 against `{login_url}/services/oauth2/token` (refresh_token or client_credentials grant, "OAuth
  2.0 Refresh Token Flow" and "OAuth 2.0 Client Credentials Flow" in Salesforce Help); the answer's
  `instance_url` is where every later call goes. simple-salesforce runs in direct mode (`session_id` +
  `instance_url`), so it never refreshes on its own and never retries: an expired session (401
  INVALID_SESSION_ID) reaches the gateway, which renews it once and sends the call once more.
* Error answers follow "Status Codes and Error Responses" (REST API Developer Guide): an array of
  `{errorCode, message}`; REQUEST_LIMIT_EXCEEDED is the daily allocation when it names TotalRequests and
  a concurrency throttle otherwise.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import requests
import zeep.exceptions
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.metadata import SfdcMetadataApi

from sync.clock import Clock
from sync.errors import AuthExpired, AuthFailed, ConnectorError, PermanentError, RateLimited, TransientError
from sync.log import register_secret
from sync.toolkit.gateway import AUTH, Answer, Call, Dialect, Gateway, Limits, Pacing
from sync.toolkit.headers import header
from sync.toolkit.tokens import Grant, RefreshingToken

from connectors.salesforce.mapping import CRM
from connectors.salesforce.settings import SalesforceSettings

Result = TypeVar("Result")
USER_AGENT = "crmsync/0.1 (salesforce connector; simple-salesforce)"
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceHttp(requests.Session):
    """A requests session with a default timeout and a hook on every response."""

    def __init__(
        self, *, timeout: float, ca_bundle: str | None, on_response: Callable[[requests.Response], None]
    ):
        super().__init__()
        self.default_timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        if ca_bundle:
            self.verify = ca_bundle
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)  # the gateway retries
        self.mount("https://", adapter)
        self.hooks["response"].append(lambda response, *args, **kwargs: on_response(response))

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:  # zeep passes timeout=None explicitly
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is None:  # else REQUESTS_CA_BUNDLE from the environment beats session.verify
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


class SalesforceClient:
    """Authenticated, paced, retried calls to one org; `call(category, op)` runs one HTTP request."""

    def __init__(self, settings: SalesforceSettings, *, clock: Clock, sleep: Callable[[float], None]) -> None:
        self.settings = settings
        self._local = threading.local()
        for secret in settings.secrets():
            register_secret(secret)
        self.http = SalesforceHttp(
            timeout=settings.timeout_s,
            ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
            on_response=self._keep_headers,
        )
        self.gateway = Gateway(
            SalesforceDialect(settings, clock), RefreshingToken(self._fetch_token, clock=clock, margin=timedelta(0),
                                                         crm=CRM),
            Limits(daily=settings.daily_limit, daily_reserve=settings.daily_reserve,
                   windows={"burst": (settings.burst_calls, settings.burst_window_s)}),
            clock, settings.retries(), sleep)
        self.api_calls = self.gateway.calls
        self._api: Salesforce | None = None
        self._session_id: str | None = None
        self._mdapi: SfdcMetadataApi | None = None

    def _keep_headers(self, response: requests.Response) -> None:
        self._local.last_headers = response.headers

    def _last_headers(self) -> Mapping[str, str]:
        return getattr(self._local, "last_headers", None) or {}

    # --- auth -------------------------------------------------------------------------------------------
    def _fetch_token(self, refresh_token: str | None) -> Grant:
        """A fresh access token from the token endpoint (not paced: it spends no API request)."""
        data = {
            "grant_type": self.settings.auth_flow,
            "client_id": self.settings.client_id.get_secret_value(),
        }
        if self.settings.client_secret is not None:
            data["client_secret"] = self.settings.client_secret.get_secret_value()
        if self.settings.auth_flow == "refresh_token" and self.settings.refresh_token is not None:
            data["refresh_token"] = self.settings.refresh_token.get_secret_value()
        url = f"{self.settings.login_url}/services/oauth2/token"

        def send(_: Grant | None) -> Answer:
            response = self.http.post(url, data=data, headers={"Accept": "application/json"})
            return Answer(response.status_code, response.headers, response.content)

        body = self.gateway.once(Call(AUTH, "token request", authenticated=False, paced=False), send).data
        body = body if isinstance(body, dict) else {}
        access_token, instance_url = body.get("access_token"), body.get("instance_url")
        if not access_token or not isinstance(instance_url, str) or not instance_url.startswith("https://"):
            raise AuthFailed("Salesforce token answer lacks access_token or an https instance_url", crm=CRM)
        return Grant(str(access_token), extra={"instance_url": instance_url})

    def _handle(self, grant: Grant) -> Salesforce:
        """The simple-salesforce handle for this grant, built again when the session changed."""
        if self._api is None or self._session_id != grant.access_token:
            self._api = Salesforce(instance_url=grant.extra["instance_url"], session_id=grant.access_token,
                                  version=self.settings.api_version, session=self.http)
            self._session_id = grant.access_token
            self._mdapi = None
        return self._api

    def mdapi(self, api: Salesforce) -> SfdcMetadataApi:
        """The Metadata API handle, on our session: zeep builds its own transport session otherwise, which
        would neither trust `ca_bundle` nor report limits nor time out."""
        if self._mdapi is None:
            self._mdapi = api.mdapi
            self._mdapi._client.transport.session = self.http
        return self._mdapi

    # --- calls ------------------------------------------------------------------------------------------
    def call(self, category: str, operation: Callable[[Salesforce], Result], *, idempotent: bool = True) -> Result:
        """Run `op` (one HTTP request through simple-salesforce) through the gateway."""

        def send(grant: Grant | None) -> Answer:
            assert grant is not None
            api = self._handle(grant)
            self._local.last_headers = None
            try:
                result = operation(api)
            except SalesforceError as exc:
                return Answer(exc.status, self._last_headers(), exc.content)
            return Answer(200, self._last_headers(), result)

        result: Result = self.gateway.call(Call(category, category, idempotent=idempotent), send).data
        return result

    def probe(self) -> Any:
        """The cheapest authenticated request: the org's limits."""
        return self.call("health", lambda api: api.limits())

    def close(self) -> None:
        self.http.close()


class SalesforceDialect(Dialect):
    """What Salesforce's answers mean: the org's allocation in `Sforce-Limit-Info`, errors as an array of
    `{errorCode, message}`, session expiry as INVALID_SESSION_ID (a SOAP fault on the Metadata API)."""

    crm = CRM
    name = "Salesforce"
    budget_window = "rolling_24h"  # "API Request Limits and Allocations": a rolling 24-hour allocation
    settings: SalesforceSettings

    def observe(self, answer: Answer, call: Call, pacing: Pacing) -> None:
        match = _LIMIT_INFO.search(header(answer.headers, "Sforce-Limit-Info") or "")
        if match:
            used, total = int(match.group(1)), int(match.group(2))
            pacing.daily.observe(remaining=max(total - used, 0), limit=total)

    def error(self, answer: Answer, call: Call, wait: float | None) -> ConnectorError:
        if call.category == AUTH:
            return _oauth_error(answer)
        return _rest_error(answer.status, answer.json(), wait, self.settings)

    def transport_error(self, exc: Exception, call: Call) -> ConnectorError | None:
        return _transport_error(exc)


def _first_error(content: Any) -> tuple[str, str]:
    """(errorCode, message) of a REST error body, which is an array of `{message, errorCode, fields?}`."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error", "")), str(
            content.get("message") or content.get("error_description", "")
        )
    return "", ""


def _oauth_error(answer: Answer) -> ConnectorError:
    if answer.status >= 500:
        return TransientError("Salesforce token endpoint is unavailable", crm=CRM, status=answer.status)
    body = answer.json()
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    return AuthFailed(
        f"Salesforce refused the OAuth credentials ({error or answer.status}: "
        f"{description or 'no description'}); check client id, secret and refresh token",
        crm=CRM,
        status=answer.status,
    )


def _rest_error(status: int, content: Any, wait: float | None, settings: SalesforceSettings) -> ConnectorError:
    """One REST error answer -> the crmsync error that says how to recover. Never echoes URLs (they carry
    SOQL) or tokens."""
    code, message = _first_error(content)
    summary = f"{code}: {message}" if code else f"HTTP {status}"
    if status == 401:
        if code == "INVALID_SESSION_ID":
            return AuthExpired("Salesforce session expired or invalid", crm=CRM, status=401)
        return AuthFailed(f"Salesforce refused the credentials ({summary})", crm=CRM, status=401)
    if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
        if "TotalRequests" in message:
            return RateLimited("Salesforce daily API allocation exceeded (TotalRequests)", crm=CRM,
                               retry_after=wait or settings.daily_retry_after_s, scope="daily", status=status)
        return RateLimited(f"Salesforce throttled the request ({summary})", crm=CRM,
                           retry_after=wait or settings.throttle_retry_after_s, scope="burst", status=status)
    if status == 403:
        return AuthFailed(f"Salesforce refused access ({summary}); check the integration user's profile "
                          "and permission sets", crm=CRM, status=403)
    if status >= 500:
        if wait is not None:
            return RateLimited(f"Salesforce is unavailable ({summary})", crm=CRM, retry_after=wait, scope="burst",
                               status=status)
        return TransientError(f"Salesforce server error ({summary})", crm=CRM, status=status)
    if code == "INVALID_FIELD" and "No such column" in message:
        column = re.search(r"No such column '([^']+)'", message)
        name = column.group(1) if column else "a mapped field"
        return PermanentError(
            f"Salesforce does not show {name} to the integration user: it is missing or lacks "
            f"field-level security. Grant Read/Edit on {name} to the integration user's profile or a "
            "permission set, or change the field mapping",
            crm=CRM, status=status, detail=summary)
    return PermanentError(f"Salesforce rejected the request ({summary})", crm=CRM, status=status)


def _transport_error(exc: Exception) -> ConnectorError:
    """A failure without an HTTP error answer (the transport, a malformed body, the Metadata API's SOAP)."""
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return PermanentError(
            "the Salesforce host's TLS certificate is not trusted; set ca_bundle to the CA that signed it",
            crm=CRM,
        )
    if isinstance(exc, requests.Timeout):
        return TransientError("Salesforce did not answer in time", crm=CRM)
    if isinstance(exc, requests.ConnectionError):
        return TransientError("connection to Salesforce failed or was dropped", crm=CRM)
    if isinstance(
        exc, requests.exceptions.JSONDecodeError | json.JSONDecodeError | zeep.exceptions.XMLSyntaxError
    ):
        return TransientError("Salesforce answered a malformed body", crm=CRM, detail=type(exc).__name__)
    if isinstance(exc, zeep.exceptions.Fault):
        fault = f"{exc.code or ''} {exc.message or ''}"
        if "INVALID_SESSION_ID" in fault:
            return AuthExpired("Salesforce session expired or invalid (Metadata API)", crm=CRM, status=500)
        return PermanentError(f"Salesforce Metadata API fault: {exc.message}", crm=CRM)
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code >= 500:
            return TransientError("Salesforce Metadata API server error", crm=CRM, status=exc.status_code)
        return PermanentError("Salesforce Metadata API refused the request", crm=CRM, status=exc.status_code)
    return PermanentError(f"unexpected Salesforce client failure ({type(exc).__name__})", crm=CRM)
