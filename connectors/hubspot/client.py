"""The one gateway between crmsync and hubspot-api-client: auth, pacing, retry, error translation, call counting.

Every HubSpot call goes through `HubSpotClient._call`, in this order: spend one
unit of the daily budget (refuses with `RateLimited(scope="daily")` instead of
sleeping), wait for the burst window (or the separate search window), count the
call, send it through the SDK with the current bearer token, read the rate-limit
headers back into the pacers, and parse the body ourselves.

Why `_preload_content=False`: the SDK silently turns a malformed JSON body into
an empty model (`results=None`), which would end a pull as if HubSpot had no
more contacts. Reading the raw urllib3 response lets a malformed body surface as
a `TransientError`, exposes the rate-limit headers, and skips the SDK's slow
model deserialisation. The SDK still builds every request (paths, repeated
query keys, JSON bodies from its models): only the base URL differs between the
sandbox and production.

The SDK's own retries are off (`retry=Retry(0)`); `sync.retry` is the only retry
layer. Tokens: a private-app token is static (a 401 ends that account with
`AuthFailed`); an OAuth token is refreshed `refresh_margin_s` before its
`expires_in` runs out (HubSpot: a 401 is not the signal), and a 401
EXPIRED_AUTHENTICATION anyway triggers one refresh and one retry of that call.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
import structlog
import urllib3
from hubspot import HubSpot

from connectors.hubspot.settings import HubSpotSettings
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

CRM = "hubspot"
USER_AGENT = "crmsync/0.1 (hubspot-api-client 12)"
log = structlog.get_logger("crmsync.hubspot")

#: documented waits when HubSpot gives no better figure (facts §1.6, §1.7)
BURST_WAIT_S = 10.0
SEARCH_WAIT_S = 1.0
LOCKED_WAIT_S = 2.0
MIGRATION_WAIT_S = 60.0
#: a server-dictated wait longer than this parks the account (scope "daily") rather than sleeping in a run
PARK_AFTER_S = 600.0

Send = Callable[[dict[str, str] | None], Any]


class ApiResponse(NamedTuple):
    status: int
    data: Any
    headers: Mapping[str, str]


class HubSpotRejected(PermanentError):
    """HubSpot refused the request itself (400, 404, 409...). Keeps the error's category and the ids and
    property names HubSpot named, never its message text, which can quote contact data."""

    def __init__(self, user_message: str, *, status: int, category: str, context: dict[str, list[str]],
                 property_names: list[str], codes: list[str], detail: str | None = None) -> None:
        super().__init__(user_message, crm=CRM, status=status, detail=detail)
        self.category = category
        self.context = context
        self.property_names = property_names
        self.codes = codes


def _error_body(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw.strip().startswith("{"):
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _header_number(headers: Mapping[str, str] | None, name: str) -> float | None:
    value = headers.get(name) if headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_details(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The property names and error codes of a HubSpot error body's `errors[]`."""
    names: list[str] = []
    codes: list[str] = []
    for detail in body.get("errors") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("code"):
            codes.append(str(detail["code"]))
        context = detail.get("context")
        if isinstance(context, dict):
            names.extend(str(n) for n in context.get("propertyName") or [])
    return sorted(set(names)), sorted(set(codes))


def translate(status: int, raw_body: Any, headers: Mapping[str, str] | None, *, operation: str, search: bool,
              seconds_to_daily_reset: float) -> ConnectorError:
    """Map one HubSpot error response onto crmsync's recovery-strategy errors (facts §1.6, §1.7)."""
    body = _error_body(raw_body)
    category = str(body.get("category") or body.get("status") or "")
    detail = " ".join(f"{k}={body[k]}" for k in ("correlationId", "category", "subCategory", "policyName")
                      if body.get(k))
    where = f"HubSpot {operation}"
    if operation == "token refresh" and 400 <= status < 500:
        return AuthFailed(f"{where} was refused ({category or status}); re-authorise the app", crm=CRM,
                          status=status, detail=detail)
    if status == 401:
        if category == "EXPIRED_AUTHENTICATION":
            return AuthExpired(f"{where}: access token expired", crm=CRM, status=401, detail=detail)
        return AuthFailed(f"{where}: credentials rejected ({category or 'unauthorised'})", crm=CRM, status=401,
                          detail=detail)
    if status == 403:
        scopes = sorted({s for e in body.get("errors") or [] if isinstance(e, dict)
                         for s in (e.get("context") or {}).get("requiredGranularScopes") or []})
        missing = f"; missing scopes {', '.join(scopes)}" if scopes else ""
        return AuthFailed(f"{where}: forbidden ({category or 'FORBIDDEN'}){missing}", crm=CRM, status=403,
                          detail=detail)
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy == "DAILY":
            return RateLimited(f"{where}: HubSpot daily API limit reached", crm=CRM, status=429, scope="daily",
                               retry_after=max(seconds_to_daily_reset, 1.0), detail=detail)
        retry_after = _header_number(headers, "Retry-After")
        if retry_after is None:
            interval_ms = _header_number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            if search or policy.upper() == "SECONDLY":
                retry_after = SEARCH_WAIT_S
            else:
                retry_after = interval_ms / 1000 if interval_ms else BURST_WAIT_S
        return RateLimited(f"{where}: HubSpot rate limit ({policy or 'burst'})", crm=CRM, status=429,
                           retry_after=retry_after, detail=detail)
    if status == 423:
        return RateLimited(f"{where}: record locked", crm=CRM, status=423, retry_after=LOCKED_WAIT_S, detail=detail)
    if status == 477:
        wait = _header_number(headers, "Retry-After") or MIGRATION_WAIT_S
        return RateLimited(f"{where}: account is migrating data centres", crm=CRM, status=477, retry_after=wait,
                           scope="daily" if wait > PARK_AFTER_S else "burst", detail=detail)
    if status >= 500 or status == 0:
        return TransientError(f"{where}: HubSpot server error {status}", crm=CRM, status=status, detail=detail)
    context = {str(k): [str(v) for v in vals] for k, vals in (body.get("context") or {}).items()
               if isinstance(vals, list)}
    names, codes = _error_details(body)
    return HubSpotRejected(f"{where} was rejected ({status} {category or 'error'})", status=status,
                           category=category, context=context, property_names=names, codes=codes, detail=detail)


class TokenManager:
    """Holds the bearer token; refreshes an OAuth token before it expires. Thread-safe."""

    def __init__(self, settings: HubSpotSettings, clock: Clock, refresh: Callable[[], dict[str, Any]]) -> None:
        self._settings = settings
        self._clock = clock
        self._refresh_call = refresh
        self._lock = threading.Lock()
        self._token = settings.access_token.get_secret_value() if settings.access_token else None
        self._expires_at = settings.access_token_expires_at
        self._refresh_token = settings.refresh_token.get_secret_value() if settings.refresh_token else None
        self.refreshes = 0
        for secret in settings.secrets():
            register_secret(secret)

    @property
    def can_refresh(self) -> bool:
        return self._refresh_token is not None

    @property
    def refresh_token(self) -> str | None:
        return self._refresh_token

    def request_auth(self) -> dict[str, str]:
        """The SDK's per-call auth override, with a token that is valid for at least the refresh margin."""
        with self._lock:
            if self.can_refresh and (self._token is None or self._expires_at is None or self._clock.now()
                                     >= self._expires_at - timedelta(seconds=self._settings.refresh_margin_s)):
                self._refresh_locked()
            token = self._token
        return {"type": "oauth2", "in": "header", "key": "Authorization", "value": f"Bearer {token}"}

    def refresh(self) -> None:
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        data = self._refresh_call()
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, (int, float)):
            raise TransientError("HubSpot token refresh answered without access_token/expires_in", crm=CRM)
        register_secret(token)
        self._token = token
        self._expires_at = self._clock.now() + timedelta(seconds=float(expires_in))
        rotated = data.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            register_secret(rotated)
            self._refresh_token = rotated
        self.refreshes += 1
        log.info("hubspot_token_refreshed", expires_in=expires_in)


class HubSpotClient:
    """The SDK client and its API objects, built once (each SDK property access builds a new pool)."""

    def __init__(self, settings: HubSpotSettings, *, account: str, clock: Clock,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.account = account
        self._clock = clock
        self._sleep = sleep
        self.api_calls: Counter[str] = Counter()
        sdk = HubSpot(access_token=None, host=settings.base_url, base_url=settings.base_url,
                      retry=urllib3.Retry(0))
        crm = sdk.crm
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_search = crm.contacts.search_api
        self.contacts_batch = crm.contacts.batch_api
        self.objects_batch = crm.objects.batch_api
        self.associations_batch = crm.associations.v4.batch_api
        self.pipelines = crm.pipelines.pipelines_api
        self.properties = crm.properties.core_api
        self.property_groups = crm.properties.groups_api
        self._oauth_tokens = sdk.oauth.tokens_api
        self._apis = (self.contacts_basic, self.contacts_search, self.contacts_batch, self.objects_batch,
                      self.associations_batch, self.pipelines, self.properties, self.property_groups,
                      self._oauth_tokens)
        for api in self._apis:
            api.api_client.user_agent = USER_AGENT
        limits = settings.limits
        now = lambda: self._clock.now().timestamp()  # noqa: E731 - the pacers take a float clock
        self.burst = SlidingWindowLimiter(limits.burst_calls, limits.burst_window_s, clock=now, sleep=sleep)
        self.search_window = SlidingWindowLimiter(limits.search_calls_per_s, 1.0, clock=now, sleep=sleep)
        self.daily = DailyBudget(CRM, limits.daily_calls, reserve=limits.daily_reserve, clock=now)
        self._zone = ZoneInfo(limits.account_timezone)
        self.tokens = TokenManager(settings, clock, self._refresh_token)
        self.last_headers: dict[str, str] = {}

    # -- plumbing ---------------------------------------------------------------------------------------

    def seconds_to_daily_reset(self) -> float:
        local = self._clock.now().astimezone(self._zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=self._zone)
        return max((midnight - local).total_seconds(), 1.0)

    def call(self, category: str, operation: str, send: Send, *, idempotent: bool = True, search: bool = False,
             auth: bool = True) -> ApiResponse:
        """Send one request under the retry policy; on an expired token refresh once and retry once."""

        def attempt() -> ApiResponse:
            try:
                return self._send(category, operation, send, search=search, auth=auth)
            except AuthExpired:
                if not auth or not self.tokens.can_refresh:
                    raise AuthFailed(f"HubSpot {operation}: the private-app token was rejected as expired; "
                                     "rotate it", crm=CRM, status=401) from None
                self.tokens.refresh()
                try:
                    return self._send(category, operation, send, search=search, auth=auth)
                except AuthExpired:
                    raise AuthFailed(f"HubSpot {operation}: a freshly refreshed token was rejected", crm=CRM,
                                     status=401) from None

        return retry.call(attempt, idempotent=idempotent, sleep=self._sleep,
                          attempts=self.settings.retry_attempts, max_wait=self.settings.retry_max_wait_s)

    def _send(self, category: str, operation: str, send: Send, *, search: bool, auth: bool) -> ApiResponse:
        if self.daily.resets_at is None:
            self.daily.observe(None, resets_in=self.seconds_to_daily_reset())
        self.daily.spend()
        (self.search_window if search else self.burst).acquire()
        request_auth = self.tokens.request_auth() if auth else None
        self.api_calls[category] += 1
        try:
            raw = send(request_auth)
            status, headers, body = int(raw.status), raw.headers, raw.data
            raw.release_conn()
        except Exception as exc:  # the SDK raises one ApiException class per API package: duck-type them
            status_code = getattr(exc, "status", None)
            if isinstance(status_code, int) and hasattr(exc, "body"):
                headers = getattr(exc, "headers", None) or {}
                self._observe(headers, search=search)
                log.debug("hubspot_call_failed", category=category, operation=operation, status=status_code)
                raise translate(status_code, exc.body, headers, operation=operation, search=search,
                                seconds_to_daily_reset=self.seconds_to_daily_reset()) from None
            if isinstance(exc, (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException)):
                log.debug("hubspot_call_failed", category=category, operation=operation, error=type(exc).__name__)
                raise TransientError(f"HubSpot {operation}: connection failed or timed out ({type(exc).__name__})",
                                     crm=CRM) from None
            raise
        self._observe(headers, search=search)
        try:
            data = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            raise TransientError(f"HubSpot {operation}: malformed JSON in a {status} answer", crm=CRM,
                                 status=status) from None
        return ApiResponse(status, data, headers)

    def _observe(self, headers: Mapping[str, str], *, search: bool) -> None:
        """Adopt what HubSpot reports: it counts every integration sharing the account, we count only ours."""
        if search or not headers:
            return  # search answers carry no rate-limit headers
        daily_left = _header_number(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily_left is not None:  # the account's figure counts other integrations; ours may be a stricter cap
            ours = self.daily.remaining
            remaining = int(daily_left) if ours is None else min(ours, int(daily_left))
            self.daily.observe(remaining, resets_in=self.seconds_to_daily_reset())
        maximum = _header_number(headers, "X-HubSpot-RateLimit-Max")
        if maximum and 0 < maximum < self.burst.capacity:
            self.burst.capacity = int(maximum)
        remaining = _header_number(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining is not None and remaining <= 0:
            interval = _header_number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            self.burst.hold_off(interval / 1000 if interval else self.settings.limits.burst_window_s)
        self.last_headers = {k: v for k, v in headers.items() if k.lower().startswith("x-hubspot-ratelimit")}

    def _kwargs(self, request_auth: dict[str, str] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": self.settings.timeout_s}
        if request_auth is not None:
            kwargs["_request_auth"] = request_auth
        return kwargs

    def _refresh_token(self) -> dict[str, Any]:
        settings = self.settings
        assert settings.client_id is not None and settings.client_secret is not None
        refresh_token = self.tokens.refresh_token

        def send(_: dict[str, str] | None) -> Any:
            return self._oauth_tokens.create(
                grant_type="refresh_token", client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
                refresh_token=refresh_token, **self._kwargs(None))

        data = self._send("auth", "token refresh", send, search=False, auth=False).data
        return data if isinstance(data, dict) else {}

    # -- operations --------------------------------------------------------------------------------------

    def search_contacts(self, request: Any) -> dict[str, Any]:
        response = self.call("contacts", "contact search",
                             lambda auth: self.contacts_search.do_search(request, **self._kwargs(auth)), search=True)
        return _object(response, "contact search")

    def list_contacts(self, *, limit: int, after: str | None, properties: list[str], associations: list[str],
                      archived: bool = False, category: str = "contacts") -> dict[str, Any]:
        def send(auth: dict[str, str] | None) -> Any:
            optional: dict[str, Any] = {"after": after} if after else {}
            if associations:
                optional["associations"] = associations
            return self.contacts_basic.get_page(limit=limit, properties=properties, archived=archived,
                                                **optional, **self._kwargs(auth))

        return _object(self.call(category, "contact list", send), "contact list")

    def batch_read(self, category: str, object_type: str, request: Any) -> ApiResponse:
        return self.call(category, f"{object_type} batch read",
                         lambda auth: self.objects_batch.read(object_type, request, **self._kwargs(auth)))

    def read_associations(self, to_type: str, request: Any) -> ApiResponse:
        return self.call("associations", f"contact-{to_type} association read",
                         lambda auth: self.associations_batch.get_page("contacts", to_type, request,
                                                                       **self._kwargs(auth)))

    def update_contacts(self, request: Any) -> ApiResponse:
        # idempotent: the same property values written twice leave the same record
        return self.call("push", "contact batch update",
                         lambda auth: self.contacts_batch.update(request, **self._kwargs(auth)))

    def deal_pipelines(self) -> dict[str, Any]:
        return _object(self.call("deals", "deal pipelines",
                                 lambda auth: self.pipelines.get_all("deals", **self._kwargs(auth))), "deal pipelines")

    def contact_properties(self) -> dict[str, Any]:
        return _object(self.call("setup", "contact properties",
                                 lambda auth: self.properties.get_all("contacts", **self._kwargs(auth))),
                       "contact properties")

    def contact_property_groups(self) -> dict[str, Any]:
        return _object(self.call("setup", "property groups",
                                 lambda auth: self.property_groups.get_all("contacts", **self._kwargs(auth))),
                       "property groups")

    def create_property_group(self, request: Any) -> ApiResponse:
        return self.call("setup", "property group create", idempotent=False,
                         send=lambda auth: self.property_groups.create("contacts", request, **self._kwargs(auth)))

    def create_property(self, request: Any) -> ApiResponse:
        return self.call("setup", "property create", idempotent=False,
                         send=lambda auth: self.properties.create("contacts", request, **self._kwargs(auth)))

    def probe(self) -> ApiResponse:
        """The cheapest authenticated call that carries the rate-limit headers (search answers do not)."""
        return self.call("health", "health probe",
                         lambda auth: self.contacts_basic.get_page(limit=1, **self._kwargs(auth)))

    def close(self) -> None:
        for api in self._apis:
            api.api_client.rest_client.pool_manager.clear()


def _object(response: ApiResponse, operation: str) -> dict[str, Any]:
    if not isinstance(response.data, dict):
        raise TransientError(f"HubSpot {operation}: expected a JSON object, got {type(response.data).__name__}",
                             crm=CRM, status=response.status)
    return response.data
