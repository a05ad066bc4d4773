"""HubSpot on the shared gateway: its dialect (budget headers, error answers) and hubspot-api-client as the
transport, built once (each SDK property access builds a new connection pool).

Every call goes through `sync.toolkit.gateway.Gateway`: pacing against the burst window (or the separate
search window) and the daily budget, the bearer token (a private-app token, or an OAuth token refreshed
before it expires and once on 401 EXPIRED_AUTHENTICATION), the one retry policy, error translation.

Why `_preload_content=False`: the SDK silently turns a malformed JSON body into an empty model
(`results=None`), which would end a pull as if HubSpot had no more contacts. Reading the raw urllib3
response lets a malformed body surface as a `TransientError`, exposes the rate-limit headers, and skips
the SDK's slow model deserialisation. The SDK still builds every request (paths, repeated query keys,
JSON bodies from its models): only the base URL differs between the sandbox and production. The SDK's own
retries are off (`retry=Retry(0)`).

Documented behaviour this follows: "API usage guidelines and limits"
(https://developers.hubspot.com/docs/api/usage-details: the `X-HubSpot-RateLimit-*` headers, the ten-second
and daily policies, search answers without rate-limit headers and limited to a few requests per second)
and "Error handling" (https://developers.hubspot.com/docs/api/error-handling: 423 LOCKED, 477
MIGRATION_IN_PROGRESS with its Retry-After).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import urllib3
from hubspot import HubSpot

from connectors.hubspot.settings import HubSpotSettings
from sync.clock import Clock
from sync.errors import AuthExpired, AuthFailed, ConnectorError, PermanentError, RateLimited, TransientError
from sync.toolkit.gateway import AUTH, Answer, Call, Dialect, Gateway, Limits, Pacing
from sync.toolkit.headers import header_number
from sync.toolkit.tokens import Credentials, Grant, RefreshingToken, StaticToken

CRM = "hubspot"
USER_AGENT = "crmsync/0.1 (hubspot-api-client 12)"
SEARCH = "search"  # the search endpoints' own window

#: documented waits when HubSpot gives no better figure ("API usage guidelines and limits", "Error handling")
BURST_WAIT_S = 10.0
SEARCH_WAIT_S = 1.0
LOCKED_WAIT_S = 2.0
MIGRATION_WAIT_S = 60.0
#: a server-dictated wait longer than this parks the account (scope "daily") rather than sleeping in a run
PARK_AFTER_S = 600.0


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
            names.extend(str(name) for name in context.get("propertyName") or [])
    return sorted(set(names)), sorted(set(codes))


class HubSpotDialect(Dialect):
    """What HubSpot's answers mean: budgets in `X-HubSpot-RateLimit-*` headers (none on search answers), the
    error envelope's `category` (EXPIRED_AUTHENTICATION, VALIDATION_ERROR...) and `policyName` on a 429."""

    crm = CRM
    name = "HubSpot"
    settings: HubSpotSettings

    def seconds_to_daily_reset(self) -> float:
        """The daily counter resets at midnight in the account's time zone."""
        zone = ZoneInfo(self.settings.limits.account_timezone)
        local = self.clock.now().astimezone(zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        return max((midnight - local).total_seconds(), 1.0)

    def observe(self, answer: Answer, call: Call, pacing: Pacing) -> None:
        headers = answer.headers
        if call.window == SEARCH or not headers:
            return  # search answers carry no rate-limit headers
        daily = pacing.daily
        daily_left = header_number(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily_left is not None:  # the account's figure counts other integrations; ours may be a stricter cap
            remaining = int(daily_left) if daily.remaining is None else min(daily.remaining, int(daily_left))
            daily.observe(remaining, resets_in=self.seconds_to_daily_reset())
        burst = pacing.window()
        maximum = header_number(headers, "X-HubSpot-RateLimit-Max")
        if maximum and 0 < maximum < burst.capacity:
            burst.capacity = int(maximum)
        remaining_now = header_number(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining_now is not None and remaining_now <= 0:
            interval = header_number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            burst.hold_off(interval / 1000 if interval else self.settings.limits.burst_window_s)

    def error(self, answer: Answer, call: Call, wait: float | None) -> ConnectorError:
        """One HubSpot error answer as the recovery-strategy error it means."""
        status = answer.status
        found = answer.json()
        body = found if isinstance(found, dict) else {}
        category = str(body.get("category") or body.get("status") or "")
        detail = " ".join(f"{key}={body[key]}" for key in ("correlationId", "category", "subCategory", "policyName")
                          if body.get(key))
        where = f"HubSpot {call.operation}"
        if call.category == AUTH and 400 <= status < 500:
            return AuthFailed(f"{where} was refused ({category or status}); re-authorise the app", crm=CRM,
                              status=status, detail=detail)
        if status == 401:
            if category == "EXPIRED_AUTHENTICATION":
                return AuthExpired(f"{where}: access token expired", crm=CRM, status=401, detail=detail)
            return AuthFailed(f"{where}: credentials rejected ({category or 'unauthorised'})", crm=CRM,
                              status=401, detail=detail)
        if status == 403:
            scopes = sorted({scope for error in body.get("errors") or [] if isinstance(error, dict)
                             for scope in (error.get("context") or {}).get("requiredGranularScopes") or []})
            missing = f"; missing scopes {', '.join(scopes)}" if scopes else ""
            return AuthFailed(f"{where}: forbidden ({category or 'FORBIDDEN'}){missing}", crm=CRM, status=403,
                              detail=detail)
        if status == 429:
            return self._throttled(where, body, answer.headers, call, wait, detail)
        if status == 423:
            return RateLimited(f"{where}: record locked", crm=CRM, status=423, retry_after=LOCKED_WAIT_S,
                               detail=detail)
        if status == 477:
            wait = wait or MIGRATION_WAIT_S
            return RateLimited(f"{where}: account is migrating data centres", crm=CRM, status=477,
                               retry_after=wait, scope="daily" if wait > PARK_AFTER_S else "burst", detail=detail)
        if status >= 500 or status == 0:
            return TransientError(f"{where}: HubSpot server error {status}", crm=CRM, status=status, detail=detail)
        context = {str(key): [str(value) for value in vals] for key, vals in (body.get("context") or {}).items()
                   if isinstance(vals, list)}
        names, codes = _error_details(body)
        return HubSpotRejected(f"{where} was rejected ({status} {category or 'error'})", status=status,
                               category=category, context=context, property_names=names, codes=codes,
                               detail=detail)

    def _throttled(self, where: str, body: dict[str, Any], headers: Mapping[str, str], call: Call,
                   wait: float | None, detail: str) -> RateLimited:
        policy = str(body.get("policyName") or "")
        if policy == "DAILY":
            return RateLimited(f"{where}: HubSpot daily API limit reached", crm=CRM, status=429, scope="daily",
                               retry_after=max(self.seconds_to_daily_reset(), 1.0), detail=detail)
        if wait is None:
            interval_ms = header_number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            if call.window == SEARCH or policy.upper() == "SECONDLY":
                wait = SEARCH_WAIT_S
            else:
                wait = interval_ms / 1000 if interval_ms else BURST_WAIT_S
        return RateLimited(f"{where}: HubSpot rate limit ({policy or 'burst'})", crm=CRM, status=429,
                           retry_after=wait, detail=detail)

    def transport_error(self, exc: Exception, call: Call) -> ConnectorError | None:
        if isinstance(exc, (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException)):
            return TransientError(f"HubSpot {call.operation}: connection failed or timed out "
                                  f"({type(exc).__name__})", crm=CRM)
        return None


def _answer(request: Callable[[], Any]) -> Answer:
    """Send one SDK request and take its raw answer. The SDK raises one ApiException class per API package:
    they are told apart by their `status` and `body`."""
    try:
        raw = request()
    except Exception as exc:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and hasattr(exc, "body"):
            return Answer(status, getattr(exc, "headers", None) or {}, exc.body)
        raise
    try:
        return Answer(int(raw.status), raw.headers, raw.data)
    finally:
        raw.release_conn()


class HubSpotClient:
    """The SDK's API objects behind one gateway; each operation is one request."""

    def __init__(self, settings: HubSpotSettings, *, clock: Clock, sleep: Callable[[float], None]) -> None:
        self.settings = settings
        sdk = HubSpot(access_token=None, host=settings.base_url, base_url=settings.base_url,
                      retry=urllib3.Retry(0))
        crm = sdk.crm
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_batch = crm.contacts.batch_api
        self.objects_batch = crm.objects.batch_api
        self.objects_search = crm.objects.search_api
        self.associations_batch = crm.associations.v4.batch_api
        self.pipelines = crm.pipelines.pipelines_api
        self.properties = crm.properties.core_api
        self.property_groups = crm.properties.groups_api
        self.properties_batch = crm.properties.batch_api
        self._oauth_tokens = sdk.oauth.tokens_api
        self._apis = (self.contacts_basic, self.contacts_batch, self.objects_batch,
                      self.objects_search, self.associations_batch, self.pipelines, self.properties,
                      self.property_groups, self.properties_batch, self._oauth_tokens)
        for api in self._apis:
            api.api_client.user_agent = USER_AGENT
        limits = settings.limits
        self.gateway = Gateway(
            HubSpotDialect(settings, clock), self._credentials(clock),
            Limits(daily=limits.daily_calls, daily_reserve=limits.daily_reserve,
                   windows={"burst": (limits.burst_calls, limits.burst_window_s),
                            SEARCH: (limits.search_calls_per_s, 1.0)}),
            clock, settings.retries(), sleep)
        self.api_calls = self.gateway.calls

    def _credentials(self, clock: Clock) -> Credentials:
        settings = self.settings
        if settings.refresh_token is None:
            assert settings.access_token is not None  # the settings insist on one credential
            return StaticToken(settings.access_token.get_secret_value(), fix="the private-app token cannot be refreshed: rotate it")
        return RefreshingToken(
            self._fetch_token, clock=clock, margin=timedelta(seconds=settings.refresh_margin_s), crm=CRM,
            refresh_token=settings.refresh_token.get_secret_value(),
            access_token=settings.access_token.get_secret_value() if settings.access_token else None,
            expires_at=settings.access_token_expires_at)

    def _fetch_token(self, refresh_token: str | None) -> Grant:
        """`POST /oauth/v1/token` with grant_type=refresh_token ("OAuth", "Refresh an access token"); paced
        like every call to api.hubapi.com."""
        settings = self.settings
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        call = Call(AUTH, "token refresh", authenticated=False)
        data = self.gateway.once(call, lambda _: _answer(lambda: self._oauth_tokens.create(
            grant_type="refresh_token", client_id=settings.client_id, client_secret=secret,
            refresh_token=refresh_token, **self._options(None)))).data
        token = data.get("access_token") if isinstance(data, dict) else None
        expires_in = data.get("expires_in") if isinstance(data, dict) else None
        if not isinstance(token, str) or not isinstance(expires_in, (int, float)):
            raise TransientError("HubSpot token refresh answered without access_token/expires_in", crm=CRM)
        rotated = data.get("refresh_token")
        return Grant(token, self.gateway.clock.now() + timedelta(seconds=float(expires_in)),
                     refresh_token=rotated if isinstance(rotated, str) and rotated else None)

    def _options(self, grant: Grant | None) -> dict[str, Any]:
        options: dict[str, Any] = {"_preload_content": False, "_request_timeout": self.settings.timeout_s}
        if grant is not None:
            options["_request_auth"] = {"type": "oauth2", "in": "header", "key": "Authorization",
                                        "value": f"Bearer {grant.access_token}"}
        return options

    def call(self, category: str, operation: str, request: Callable[..., Any], *, idempotent: bool = True,
             window: str = "burst") -> Answer:
        """`request(**options)` is one SDK call; the gateway adds the auth and transport options."""
        return self.gateway.call(Call(category, operation, idempotent=idempotent, window=window),
                                 lambda grant: _answer(lambda: request(**self._options(grant))))

    def _object(self, category: str, operation: str, request: Callable[..., Any], *,
                window: str = "burst") -> dict[str, Any]:
        response = self.call(category, operation, request, window=window)
        if not isinstance(response.data, dict):
            raise TransientError(f"HubSpot {operation}: expected a JSON object, got {type(response.data).__name__}",
                                 crm=CRM, status=response.status)
        return response.data

    # -- operations --------------------------------------------------------------------------------------

    def search_objects(self, category: str, object_type: str, request: Any) -> dict[str, Any]:
        """`POST /crm/v3/objects/{objectType}/search`: deals and engagements by their own modification time."""
        return self._object(category, f"{object_type} search",
                            lambda **options: self.objects_search.do_search(object_type, request, **options),
                            window=SEARCH)

    def list_contacts(self, *, limit: int, after: str | None, properties: list[str], associations: list[str],
                      archived: bool = False, category: str = "contacts") -> dict[str, Any]:
        optional: dict[str, Any] = {"after": after} if after else {}
        if associations:
            optional["associations"] = associations
        return self._object(category, "contact list", lambda **options: self.contacts_basic.get_page(
            limit=limit, properties=properties, archived=archived, **optional, **options))

    def batch_read(self, category: str, object_type: str, request: Any) -> Answer:
        return self.call(category, f"{object_type} batch read",
                         lambda **options: self.objects_batch.read(object_type, request, **options))

    def read_associations(self, from_type: str, to_type: str, request: Any) -> Answer:
        return self.call("associations", f"{from_type}-{to_type} association read",
                         lambda **options: self.associations_batch.get_page(from_type, to_type, request, **options))

    def update_contacts(self, request: Any) -> Answer:
        # idempotent: the same property values written twice leave the same record
        return self.call("push", "contact batch update",
                         lambda **options: self.contacts_batch.update(request, **options))

    def deal_pipelines(self) -> dict[str, Any]:
        return self._object("deals", "deal pipelines", lambda **options: self.pipelines.get_all("deals", **options))

    def contact_properties(self) -> dict[str, Any]:
        return self._object("setup", "contact properties",
                            lambda **options: self.properties.get_all("contacts", **options))

    def contact_property_groups(self) -> dict[str, Any]:
        return self._object("setup", "property groups",
                            lambda **options: self.property_groups.get_all("contacts", **options))

    def create_property_group(self, request: Any) -> Answer:
        return self.call("setup", "property group create", idempotent=False,
                         request=lambda **options: self.property_groups.create("contacts", request, **options))

    def create_properties(self, request: Any) -> Answer:
        return self.call("setup", "property batch create", idempotent=False,
                         request=lambda **options: self.properties_batch.create("contacts", request, **options))

    def probe(self) -> Answer:
        """The cheapest authenticated call that carries the rate-limit headers (search answers do not)."""
        return self.call("health", "health probe", lambda **options: self.contacts_basic.get_page(limit=1, **options))

    def close(self) -> None:
        for api in self._apis:
            api.api_client.rest_client.pool_manager.clear()
