"""The gateway to one Salesforce org: OAuth, the simple-salesforce handle, pacing, retry, error translation
and call counting. Nothing above this module sees simple-salesforce, zeep or requests exceptions.

* One pooled `requests.Session` for everything, the REST calls and the Metadata API's zeep transport alike:
  one timeout, one User-Agent, one trust store (`ca_bundle`), and one response hook that reads
  `Sforce-Limit-Info` from every answer, errors included, into the daily budget.
* OAuth 2.0 against `{login_url}/services/oauth2/token` (refresh_token or client_credentials grant); the
  answer's `instance_url` is where every later call goes. simple-salesforce runs in direct mode
  (`session_id` + `instance_url`), so it never refreshes on its own and never retries: an expired session
  (401 INVALID_SESSION_ID) comes back here, is re-authenticated once and the call is sent once more.
* `sync.retry` is the only retry layer: throttling waits what the API said, 5xx / timeouts / dropped
  connections / malformed bodies back off, and only idempotent calls are resent after those.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import structlog
import zeep.exceptions
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.metadata import SfdcMetadataApi

from sync import retry
from sync.clock import Clock
from sync.errors import (
    AuthExpired,
    AuthFailed,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from sync.log import register_secret
from sync.ratelimit import DailyBudget, SlidingWindowLimiter

from connectors.salesforce.mapping import CRM
from connectors.salesforce.settings import SalesforceSettings

T = TypeVar("T")
log = structlog.get_logger("crmsync.salesforce")
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
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)  # our retry layer only
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
        self.api_calls: Counter[str] = Counter()
        self._clock = clock
        self._sleep = sleep
        self._slept = 0.0
        self._local = threading.local()
        for secret in settings.secrets():
            register_secret(secret)
        self.http = SalesforceHttp(
            timeout=settings.timeout_s,
            ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
            on_response=self._observe,
        )
        self.budget = DailyBudget(
            CRM, settings.daily_limit, reserve=settings.daily_reserve, clock=lambda: clock.now().timestamp()
        )
        self.limiter = SlidingWindowLimiter(
            settings.burst_calls, settings.burst_window_s, clock=self._pacing_clock, sleep=self._pace_sleep
        )
        self._sf: Salesforce | None = None
        self._mdapi: SfdcMetadataApi | None = None
        self.user_id: str | None = None
        self.instance_url: str | None = None

    # --- time for the limiter: real time plus what the injected sleep pretended to wait ------------------
    def _pacing_clock(self) -> float:
        return time.monotonic() + self._slept

    def _pace_sleep(self, seconds: float) -> None:
        if self._sleep is not time.sleep:
            self._slept += seconds
        self._sleep(seconds)

    # --- every response, errors included ----------------------------------------------------------------
    def _observe(self, response: requests.Response) -> None:
        self._local.last_headers = response.headers
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            used, total = int(match.group(1)), int(match.group(2))
            self.budget.observe(remaining=max(total - used, 0), limit=total)

    def _retry_after(self) -> float | None:
        headers = getattr(self._local, "last_headers", None) or {}
        try:
            return float(headers["Retry-After"]) if "Retry-After" in headers else None
        except ValueError:
            return None

    # --- auth -------------------------------------------------------------------------------------------
    def authenticate(self) -> None:
        """Get a fresh access token and build the simple-salesforce handle around it."""
        data = {
            "grant_type": self.settings.auth_flow,
            "client_id": self.settings.client_id.get_secret_value(),
        }
        if self.settings.client_secret is not None:
            data["client_secret"] = self.settings.client_secret.get_secret_value()
        if self.settings.auth_flow == "refresh_token" and self.settings.refresh_token is not None:
            data["refresh_token"] = self.settings.refresh_token.get_secret_value()
        url = f"{self.settings.login_url}/services/oauth2/token"

        def token() -> dict[str, Any]:
            self.api_calls["auth"] += 1
            try:
                response = self.http.post(url, data=data, headers={"Accept": "application/json"})
            except requests.RequestException as exc:
                raise translate(exc, None) from None
            if response.status_code != 200:
                raise _oauth_error(response)
            try:
                body: dict[str, Any] = response.json()
            except ValueError:
                raise TransientError("Salesforce token endpoint answered malformed JSON", crm=CRM) from None
            return body

        body = retry.call(token, idempotent=True, sleep=self._sleep)
        access_token, instance_url = body.get("access_token"), body.get("instance_url")
        if not access_token or not isinstance(instance_url, str) or not instance_url.startswith("https://"):
            raise AuthFailed("Salesforce token answer lacks access_token or an https instance_url", crm=CRM)
        register_secret(access_token)
        identity = str(body.get("id") or "")
        self.user_id = identity.rstrip("/").rsplit("/", 1)[-1] or None
        self.instance_url = instance_url
        self._sf = Salesforce(
            instance_url=instance_url,
            session_id=access_token,
            version=self.settings.api_version,
            session=self.http,
        )
        self._mdapi = None
        log.info("salesforce_authenticated", flow=self.settings.auth_flow)

    def _handle(self) -> Salesforce:
        if self._sf is None:
            self.authenticate()
        assert self._sf is not None
        return self._sf

    def mdapi(self, sf: Salesforce) -> SfdcMetadataApi:
        """The Metadata API handle, on our session: zeep builds its own transport session otherwise, which
        would neither trust `ca_bundle` nor report limits nor time out."""
        if self._mdapi is None:
            self._mdapi = sf.mdapi
            self._mdapi._client.transport.session = self.http
        return self._mdapi

    # --- calls ------------------------------------------------------------------------------------------
    def call(self, category: str, op: Callable[[Salesforce], T], *, idempotent: bool = True) -> T:
        """Run `op` (one HTTP request) under pacing, budget and the retry policy; re-authenticate once on an
        expired session."""
        try:
            return retry.call(lambda: self._attempt(category, op), idempotent=idempotent, sleep=self._sleep)
        except AuthExpired:
            log.info("salesforce_session_expired", category=category)
            self.authenticate()
        try:
            return retry.call(lambda: self._attempt(category, op), idempotent=idempotent, sleep=self._sleep)
        except AuthExpired as exc:
            raise AuthFailed(
                "Salesforce rejected a session it had just issued", crm=CRM, status=exc.status
            ) from None

    def _attempt(self, category: str, op: Callable[[Salesforce], T]) -> T:
        sf = self._handle()
        self.budget.spend()
        self.limiter.acquire()
        self.api_calls[category] += 1
        try:
            return op(sf)
        except ConnectorError:
            raise
        except Exception as exc:  # the SDK, zeep and requests raise a zoo; translate every one
            raise translate(exc, self._retry_after(), self.settings) from None

    def close(self) -> None:
        self.http.close()


def _first_error(content: Any) -> tuple[str, str]:
    """(errorCode, message) of a REST error body, which is an array of `{message, errorCode, fields?}`."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error", "")), str(
            content.get("message") or content.get("error_description", "")
        )
    return "", ""


def _oauth_error(response: requests.Response) -> ConnectorError:
    if response.status_code >= 500:
        return TransientError(
            "Salesforce token endpoint is unavailable", crm=CRM, status=response.status_code
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    return AuthFailed(
        f"Salesforce refused the OAuth credentials ({error or response.status_code}: "
        f"{description or 'no description'}); check client id, secret and refresh token",
        crm=CRM,
        status=response.status_code,
    )


def translate(
    exc: BaseException, retry_after: float | None, settings: SalesforceSettings | None = None
) -> ConnectorError:
    """One SDK / transport exception -> the crmsync error that says how to recover. Never echoes URLs
    (they carry SOQL) or tokens."""
    throttle_wait = settings.throttle_retry_after_s if settings else 20.0
    daily_wait = settings.daily_retry_after_s if settings else 3600.0
    if isinstance(exc, SalesforceError):
        status = exc.status
        code, message = _first_error(exc.content)
        summary = f"{code}: {message}" if code else f"HTTP {status}"
        if status == 401:
            if code == "INVALID_SESSION_ID":
                return AuthExpired("Salesforce session expired or invalid", crm=CRM, status=401)
            return AuthFailed(f"Salesforce refused the credentials ({summary})", crm=CRM, status=401)
        if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
            if "TotalRequests" in message:
                return RateLimited(
                    "Salesforce daily API allocation exceeded (TotalRequests)",
                    crm=CRM,
                    retry_after=retry_after or daily_wait,
                    scope="daily",
                    status=status,
                )
            return RateLimited(
                f"Salesforce throttled the request ({summary})",
                crm=CRM,
                retry_after=retry_after or throttle_wait,
                scope="burst",
                status=status,
            )
        if status == 403:
            return AuthFailed(
                f"Salesforce refused access ({summary}); check the integration user's profile "
                "and permission sets",
                crm=CRM,
                status=403,
            )
        if status >= 500:
            if retry_after is not None:
                return RateLimited(
                    f"Salesforce is unavailable ({summary})",
                    crm=CRM,
                    retry_after=retry_after,
                    scope="burst",
                    status=status,
                )
            return TransientError(f"Salesforce server error ({summary})", crm=CRM, status=status)
        if code == "INVALID_FIELD" and "No such column" in message:
            column = re.search(r"No such column '([^']+)'", message)
            name = column.group(1) if column else "a mapped field"
            return PermanentError(
                f"Salesforce does not show {name} to the integration user: it is missing or lacks "
                f"field-level security. Grant Read/Edit on {name} to the integration user's profile or a "
                "permission set, or change the field mapping",
                crm=CRM,
                status=status,
                detail=summary,
            )
        return PermanentError(f"Salesforce rejected the request ({summary})", crm=CRM, status=status)
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
