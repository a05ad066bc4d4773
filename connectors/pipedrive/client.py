"""Pipedrive on the shared gateway: its dialect (budget headers, error answers) and a pooled
`requests.Session` as the transport.

Pipedrive has no maintained Python SDK, so the transport is a session (also what the `responses` library
can fake in exact-exchange tests). Auth goes in headers: `x-api-token`, never the `api_token` query
parameter that would land in logged URLs; or an OAuth bearer, refreshed before it expires and once on a
401. Callers get parsed JSON bodies or one of `sync.errors`, nothing else.

Documented behaviour this follows ("Rate limiting", https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting):
requests per rolling 2-second window with `x-ratelimit-remaining` / `x-ratelimit-reset`, a daily token
budget per company with `x-daily-ratelimit-token-remaining`, and Cloudflare's 403 block after ignored
429s; OAuth ("Refreshing the tokens", https://pipedrive.readme.io/docs/marketplace-oauth-authorization):
`POST /oauth/token` with HTTP Basic client credentials, whose answer may rotate the refresh token and names
the company's `api_domain`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.pipedrive.settings import PipedriveSettings
from sync.clock import Clock, SystemClock
from sync.errors import AuthExpired, AuthFailed, ConnectorError, PermanentError, RateLimited, TransientError
from sync.log import register_secret
from sync.toolkit.gateway import AUTH, Answer, Call, Dialect, Gateway, Limits, Pacing
from sync.toolkit.headers import header_number, retry_after
from sync.toolkit.tokens import Credentials, Grant, RefreshingToken, StaticToken

CRM = "pipedrive"

# Token costs per call (`x-token-cost` in the official specs).
COST_V2_GET_ONE = 1
COST_V2_LIST = 10
COST_V2_UPDATE = 5
COST_V2_STAGES = 5
COST_V1_LIST = 20
COST_V1_CREATE = 10
COST_V1_USER = 2

JsonDict = dict[str, Any]


def seconds_to_utc_midnight(now: datetime) -> float:
    """Pipedrive resets the daily budget at server midnight; UTC is the documented-nowhere best guess."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max((tomorrow - now).total_seconds(), 1.0)


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")[:300]
    return ""


class PipedriveRejected(PermanentError):
    """Pipedrive refused the request (4xx): `detail` is its `error` text, `code` its error code when the
    answer names one (`"code": "feature_capping_..."`), for the caller to report per record."""

    def __init__(self, user_message: str, *, status: int, detail: str, code: str | None) -> None:
        super().__init__(user_message, crm=CRM, status=status, detail=detail)
        self.code = code


def _error_code(body: Any) -> str | None:
    code = body.get("code") if isinstance(body, dict) else None
    return code[:64] if isinstance(code, str) and code else None


class PipedriveDialect(Dialect):
    """What Pipedrive's answers mean: the burst window in `x-ratelimit-*`, the company's daily tokens in
    `x-daily-ratelimit-token-remaining`, the `{success: false, error}` envelope, Cloudflare's HTML block."""

    crm = CRM
    name = "Pipedrive"
    settings: PipedriveSettings

    def seconds_to_daily_reset(self) -> float:
        return seconds_to_utc_midnight(self.clock.now())

    def observe(self, answer: Answer, call: Call, pacing: Pacing) -> None:
        """Adopt what Pipedrive reports: other integrations spend the same budgets."""
        headers = answer.headers
        daily_left = header_number(headers, "x-daily-ratelimit-token-remaining")
        if answer.status == 429:
            if daily_left is not None and daily_left <= 0:
                pacing.daily.observe(0, resets_in=self.seconds_to_daily_reset())
            else:
                pacing.window().hold_off(self._burst_wait(headers))
        else:
            remaining = header_number(headers, "x-ratelimit-remaining")
            reset = header_number(headers, "x-ratelimit-reset")
            if remaining is not None and remaining <= 0 and reset is not None:
                pacing.window().hold_off(reset)
        local_left = pacing.daily.remaining
        if daily_left is not None and (local_left is None or daily_left < local_left):
            # the company budget is shared: when Pipedrive counts less left than our own allowance, believe it
            pacing.daily.observe(int(daily_left), resets_in=self.seconds_to_daily_reset())

    def _burst_wait(self, headers: Mapping[str, str]) -> float:
        wait = retry_after(headers, self.clock.now())
        if wait is None:
            wait = header_number(headers, "x-ratelimit-reset")
        return wait if wait is not None else self.settings.burst_window_s

    def error(self, answer: Answer, call: Call, wait: float | None) -> ConnectorError:
        status = answer.status
        body = answer.json()
        detail = _error_text(body)
        where = f"Pipedrive {call.operation}"
        if call.category == AUTH:
            if status in (400, 401, 403):
                return AuthFailed("Pipedrive refused the OAuth refresh token: re-install the app", crm=CRM,
                                  status=status)
            return TransientError("Pipedrive OAuth token endpoint failed", crm=CRM, status=status)
        if status == 429:
            daily_left = header_number(answer.headers, "x-daily-ratelimit-token-remaining")
            if daily_left is not None and daily_left <= 0:
                return RateLimited(f"{where}: the company's daily token budget is spent", crm=CRM,
                                   retry_after=self.seconds_to_daily_reset(), scope="daily", detail=detail)
            return RateLimited(f"{where}: burst limit reached", crm=CRM, retry_after=self._burst_wait(answer.headers),
                               scope="burst", detail=detail)
        if status == 403 and body is None:
            # Cloudflare's HTML block page after ignored 429s: a throttle, not a permission problem.
            return RateLimited(f"{where}: blocked by Cloudflare after repeated 429s", crm=CRM,
                               retry_after=self.settings.cloudflare_block_wait_s, status=403)
        if status == 401:
            return AuthExpired(f"{where}: token expired or rejected", crm=CRM, status=401, detail=detail)
        if status >= 500:
            return TransientError(f"{where} failed with HTTP {status}", crm=CRM, status=status, detail=detail)
        return PipedriveRejected(f"{where} rejected with HTTP {status}", status=status, detail=detail,
                                 code=_error_code(body))

    def transport_error(self, exc: Exception, call: Call) -> ConnectorError | None:
        if isinstance(exc, requests.Timeout):
            return TransientError(f"Pipedrive {call.operation} timed out after {self.settings.timeout_s}s", crm=CRM)
        if isinstance(exc, requests.RequestException):
            return TransientError(f"Pipedrive {call.operation}: connection failed", crm=CRM,
                                  detail=type(exc).__name__)
        return None

    def parse(self, answer: Answer, call: Call) -> Any:
        body = super().parse(answer, call)
        if not isinstance(body, dict) or body.get("success") is False:
            raise PermanentError(f"Pipedrive {call.operation} answered without success", crm=CRM,
                                 status=answer.status, detail=_error_text(body))
        return body


class PipedriveClient:
    """Sends one logical API call through the gateway. Thread-safe for the daemon's worker."""

    def __init__(self, settings: PipedriveSettings, *, clock: Clock | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        for secret in settings.secrets():
            register_secret(secret)
        clock = clock or SystemClock()
        self.base_url = settings.base_url  # an OAuth refresh may move it to the company's `api_domain`
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)  # the gateway retries
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": settings.user_agent, "Accept": "application/json"})
        self.gateway = Gateway(
            PipedriveDialect(settings, clock), self._credentials(clock),
            Limits(daily=settings.effective_daily_budget(), daily_reserve=settings.daily_reserve_tokens,
                   windows={"burst": (settings.effective_burst(), settings.burst_window_s)}),
            clock, settings.retries(), sleep)
        self.api_calls = self.gateway.calls

    def _credentials(self, clock: Clock) -> Credentials:
        oauth = self.settings.oauth
        if oauth is None:
            assert self.settings.api_token is not None  # the settings insist on exactly one credential
            return StaticToken(self.settings.api_token.get_secret_value(),
                               fix="the API token was rejected (revoked, or wrong company): replace it")
        return RefreshingToken(
            self._fetch_token, clock=clock, margin=timedelta(seconds=oauth.refresh_margin_s), crm=CRM,
            refresh_token=oauth.refresh_token.get_secret_value(),
            access_token=oauth.access_token.get_secret_value() if oauth.access_token else None)

    # -- public ----------------------------------------------------------------------------------------

    def v1_path(self, path: str) -> str:
        """A v1 path on the current base URL (which an OAuth refresh may move to the company's domain)."""
        prefix = self.settings.v1_prefix
        if prefix is None:
            prefix = "/v1" if urlsplit(self.base_url).hostname == "api.pipedrive.com" else "/api/v1"
        return f"{prefix}{path}"

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, category: str, cost: int) -> JsonDict:
        return self.request("GET", path, params=params, category=category, cost=cost, idempotent=True)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: JsonDict | None = None, category: str, cost: int, idempotent: bool) -> JsonDict:
        """One logical call; returns the parsed body of a 2xx answer."""
        call = Call(category, f"{method} {path}", idempotent=idempotent, cost=cost)

        def send(grant: Grant | None) -> Answer:
            response = self.session.request(method, f"{self.base_url}{path}", params=params, json=json,
                                            headers=self._auth_headers(grant), timeout=self.settings.timeout_s)
            return Answer(response.status_code, response.headers, response.content)

        data: JsonDict = self.gateway.call(call, send).data
        return data

    def _auth_headers(self, grant: Grant | None) -> dict[str, str]:
        if grant is None:
            return {}
        if self.settings.oauth is None:
            return {"x-api-token": grant.access_token}
        return {"Authorization": f"Bearer {grant.access_token}"}

    def _fetch_token(self, refresh_token: str | None) -> Grant:
        """`POST {oauth_url}/oauth/token` with grant_type=refresh_token; not paced (another host, no API
        budget spent)."""
        oauth = self.settings.oauth
        assert oauth is not None
        call = Call(AUTH, "POST /oauth/token", authenticated=False, paced=False)

        def send(_: Grant | None) -> Answer:
            response = self.session.post(
                f"{oauth.oauth_url.rstrip('/')}/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=(oauth.client_id, oauth.client_secret.get_secret_value()), timeout=self.settings.timeout_s)
            return Answer(response.status_code, response.headers, response.content)

        body = self.gateway.once(call, send).data
        try:
            access = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3599))
        except (KeyError, TypeError, ValueError):
            raise TransientError("malformed answer from the Pipedrive OAuth token endpoint", crm=CRM) from None
        if body.get("api_domain"):
            self.base_url = str(body["api_domain"]).rstrip("/")
        rotated = body.get("refresh_token")
        return Grant(access, self.gateway.clock.now() + timedelta(seconds=expires_in),
                     refresh_token=str(rotated) if rotated else None)

    def probe(self) -> JsonDict:
        """The cheapest authenticated call: the current user."""
        return self.get(self.v1_path("/users/me"), category="health", cost=COST_V1_USER)

    def close(self) -> None:
        self.session.close()
