"""The one gateway between crmsync and Pipedrive's HTTP API.

Pipedrive has no maintained Python SDK, so this is a pooled `requests.Session` (also what the
`responses` library can fake in exact-exchange tests). Everything HTTP-specific ends here: auth headers
(`x-api-token`, never the `api_token` query parameter that would land in logged URLs; or an OAuth bearer
refreshed before it expires and once on a 401), pacing to the burst window and the daily token budget,
the single retry layer (`sync.retry`), rate-limit header observation, call counting, and translation of
every failure into `sync.errors`. Callers get parsed JSON bodies or one of our errors, nothing else.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog
from requests.adapters import HTTPAdapter

from connectors.pipedrive.settings import PipedriveSettings
from sync import retry
from sync.clock import Clock, SystemClock
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

CRM = "pipedrive"
log = structlog.get_logger("crmsync.pipedrive")

# Token costs per call (`x-token-cost` in the official specs).
COST_V2_GET_ONE = 1
COST_V2_LIST = 10
COST_V2_UPDATE = 5
COST_V2_STAGES = 5
COST_V1_LIST = 20
COST_V1_CREATE = 10

CATEGORIES = ("contacts", "associations", "deals", "activities", "push", "setup")
JsonDict = dict[str, Any]


def seconds_to_utc_midnight(now: datetime) -> float:
    """Pipedrive resets the daily budget at server midnight; UTC is the documented-nowhere best guess."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max((tomorrow - now).total_seconds(), 1.0)


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")[:300]
    return ""


class _OAuthToken:
    """The current OAuth access token and when it stops working."""

    def __init__(self, access: str | None, expires_at: datetime | None) -> None:
        self.access = access
        self.expires_at = expires_at


class PipedriveClient:
    """Sends one logical API call, paced, retried and translated. Thread-safe for the daemon's worker."""

    def __init__(
        self,
        settings: PipedriveSettings,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self.base_url = settings.base_url
        self.api_calls: collections.Counter[str] = collections.Counter()
        self.daily_requests_left: int | None = None  # legacy POST/PUT fair-use counter (api_token only)
        self._lock = threading.Lock()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)  # our retry layer only
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": settings.user_agent, "Accept": "application/json"})
        now_s: Callable[[], float] = lambda: self._clock.now().timestamp()  # noqa: E731
        self.limiter = SlidingWindowLimiter(
            settings.effective_burst(), settings.burst_window_s, clock=now_s, sleep=sleep
        )
        self.daily = DailyBudget(
            CRM, settings.effective_daily_budget(), reserve=settings.daily_reserve_tokens, clock=now_s
        )
        self.daily.observe(None, resets_in=seconds_to_utc_midnight(self._clock.now()))
        self._token: _OAuthToken | None = None
        if settings.api_token is not None:
            token = settings.api_token.get_secret_value()
            register_secret(token)
            self.session.headers["x-api-token"] = token
        if settings.oauth is not None:
            register_secret(settings.oauth.client_secret.get_secret_value())
            self._refresh_token = settings.oauth.refresh_token.get_secret_value()
            register_secret(self._refresh_token)
            access = settings.oauth.access_token.get_secret_value() if settings.oauth.access_token else None
            register_secret(access)
            self._token = _OAuthToken(access, None)

    # -- public ----------------------------------------------------------------------------------------

    def v1(self, path: str) -> str:
        """A v1 path on the current base URL (which an OAuth refresh may move to the company's domain)."""
        prefix = self.settings.v1_prefix
        if prefix is None:
            prefix = "/v1" if urlsplit(self.base_url).hostname == "api.pipedrive.com" else "/api/v1"
        return f"{prefix}{path}"

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, category: str, cost: int
    ) -> JsonDict:
        return self.request("GET", path, params=params, category=category, cost=cost, idempotent=True)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: JsonDict | None = None,
        category: str,
        cost: int,
        idempotent: bool,
    ) -> JsonDict:
        """One logical call: paced, retried by `sync.retry`, and on an expired OAuth token refreshed and
        sent once more. Returns the parsed body of a 2xx answer."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown call category {category!r}")

        def attempt() -> JsonDict:
            return self._send(method, path, params=params, json=json, category=category, cost=cost)

        def with_retries() -> JsonDict:
            return retry.call(
                attempt, idempotent=idempotent, sleep=self._sleep, attempts=self.settings.retry_attempts
            )

        try:
            return with_retries()
        except AuthExpired:
            if self._token is None:
                raise
            self.refresh_access_token()
            try:
                return with_retries()
            except AuthExpired as again:
                raise AuthFailed(
                    "Pipedrive rejected a freshly refreshed OAuth token", crm=CRM, status=again.status
                ) from None

    def refresh_access_token(self) -> None:
        """`POST {oauth_url}/oauth/token` with grant_type=refresh_token; adopts a rotated refresh token."""
        oauth = self.settings.oauth
        if oauth is None:
            raise AuthFailed("an API token cannot be refreshed", crm=CRM)
        url = f"{oauth.oauth_url.rstrip('/')}/oauth/token"
        self.api_calls["setup"] += 1
        try:
            response = self.session.post(
                url,
                data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                auth=(oauth.client_id, oauth.client_secret.get_secret_value()),
                headers={"x-api-token": None, "Authorization": None},  # type: ignore[dict-item]
                timeout=self.settings.timeout_s,
            )
        except requests.RequestException as exc:
            raise TransientError(
                "Pipedrive OAuth token endpoint unreachable", crm=CRM, detail=type(exc).__name__
            ) from None
        if response.status_code in (400, 401, 403):
            raise AuthFailed(
                "Pipedrive refused the OAuth refresh token: re-install the app",
                crm=CRM,
                status=response.status_code,
            )
        if response.status_code >= 300:
            raise TransientError(
                "Pipedrive OAuth token endpoint failed", crm=CRM, status=response.status_code
            )
        try:
            body = response.json()
            access = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3599))
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                "malformed answer from the Pipedrive OAuth token endpoint", crm=CRM
            ) from None
        register_secret(access)
        if body.get("refresh_token"):
            self._refresh_token = str(body["refresh_token"])
            register_secret(self._refresh_token)
        if body.get("api_domain"):
            self.base_url = str(body["api_domain"]).rstrip("/")
        self._token = _OAuthToken(access, self._clock.now() + timedelta(seconds=expires_in))
        log.info("pipedrive_token_refreshed", expires_in=expires_in)

    def close(self) -> None:
        self.session.close()

    # -- one attempt -----------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        if self._token is None:
            return {}
        oauth = self.settings.oauth
        assert oauth is not None
        with self._lock:
            stale = self._token.access is None or (
                self._token.expires_at is not None
                and self._clock.now() >= self._token.expires_at - timedelta(seconds=oauth.refresh_margin_s)
            )
            if stale:
                self.refresh_access_token()
            return {"Authorization": f"Bearer {self._token.access}"}

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: JsonDict | None,
        category: str,
        cost: int,
    ) -> JsonDict:
        headers = self._auth_headers()
        self.limiter.acquire()
        self.daily.spend(cost)
        self.api_calls[category] += 1
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                params=params,
                json=json,
                headers=headers,
                timeout=self.settings.timeout_s,
            )
        except requests.Timeout:
            raise TransientError(
                f"Pipedrive {method} {path} timed out after {self.settings.timeout_s}s", crm=CRM
            ) from None
        except requests.RequestException as exc:
            raise TransientError(
                f"Pipedrive {method} {path}: connection failed", crm=CRM, detail=type(exc).__name__
            ) from None
        self._observe(response)
        if response.status_code >= 300:
            raise self._translate(response, method, path)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"Pipedrive {method} {path} answered malformed JSON", crm=CRM, status=response.status_code
            ) from None
        if not isinstance(body, dict) or body.get("success") is False:
            raise PermanentError(
                f"Pipedrive {method} {path} answered without success",
                crm=CRM,
                status=response.status_code,
                detail=_error_text(body),
            )
        return body

    def _observe(self, response: requests.Response) -> None:
        """Adopt what Pipedrive reports: other integrations spend the same budgets."""
        headers = response.headers
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = _header_number(headers, "x-ratelimit-reset")
        if remaining is not None and remaining <= 0 and reset is not None and response.status_code != 429:
            self.limiter.hold_off(reset)
        daily_left = _header_number(headers, "x-daily-ratelimit-token-remaining")
        local_left = self.daily.remaining
        if daily_left is not None and (local_left is None or daily_left < local_left):
            # the company budget is shared: when Pipedrive counts less left than our own allowance, believe it
            self.daily.observe(int(daily_left), resets_in=seconds_to_utc_midnight(self._clock.now()))
        elif self.daily.resets_at is None:
            self.daily.observe(None, resets_in=seconds_to_utc_midnight(self._clock.now()))
        requests_left = _header_number(headers, "x-daily-requests-left")
        if requests_left is not None:
            self.daily_requests_left = int(requests_left)

    def _translate(self, response: requests.Response, method: str, path: str) -> ConnectorError:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        detail = _error_text(body)
        where = f"Pipedrive {method} {path}"
        if status == 429:
            return self._rate_limited(response, where, body)
        if status == 403 and body is None:
            # Cloudflare's HTML block page after ignored 429s: a throttle, not a permission problem.
            return RateLimited(
                f"{where}: blocked by Cloudflare after repeated 429s",
                crm=CRM,
                retry_after=self.settings.cloudflare_block_wait_s,
                status=403,
            )
        if status == 401:
            if self._token is not None:
                return AuthExpired(
                    f"{where}: OAuth access token expired or revoked", crm=CRM, status=401, detail=detail
                )
            return AuthFailed(
                f"{where}: the API token was rejected (revoked, or wrong company)",
                crm=CRM,
                status=401,
                detail=detail,
            )
        if status >= 500:
            return TransientError(f"{where} failed with HTTP {status}", crm=CRM, status=status, detail=detail)
        return PermanentError(f"{where} rejected with HTTP {status}", crm=CRM, status=status, detail=detail)

    def _rate_limited(self, response: requests.Response, where: str, body: Any) -> RateLimited:
        headers = response.headers
        daily_left = _header_number(headers, "x-daily-ratelimit-token-remaining")
        if daily_left is not None and daily_left <= 0:
            wait = seconds_to_utc_midnight(self._clock.now())
            self.daily.observe(0, resets_in=wait)
            return RateLimited(
                f"{where}: the company's daily token budget is spent",
                crm=CRM,
                retry_after=wait,
                scope="daily",
                detail=_error_text(body),
            )
        retry_after = _header_number(headers, "retry-after")
        reset = _header_number(headers, "x-ratelimit-reset")
        wait = (
            retry_after
            if retry_after is not None
            else (reset if reset is not None else self.settings.burst_window_s)
        )
        self.limiter.hold_off(wait)
        return RateLimited(
            f"{where}: burst limit reached",
            crm=CRM,
            retry_after=wait,
            scope="burst",
            detail=_error_text(body),
        )
