"""The Pipedrive sandbox's HTTP side: real paths, query and body shapes, keyset cursors, error envelopes,
rate-limit headers and (when enforced) the burst window, the daily token budget, the 429 bodies and the
Cloudflare 403 HTML page that follows ignored 429s.

Served: `GET /api/v2/{persons,deals,activities,organizations,stages}`, `GET|PATCH|DELETE
/api/v2/persons/{id}`, `GET|POST /v1/personFields` (also under `/api/v1`), `GET /v1/users/me`, and the
OAuth `POST /oauth/token` (refresh_token grant, HTTP Basic client credentials).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.pipedrive.mapping import format_rfc3339, parse_time
from connectors.sandbox.pipedrive_store import PipedriveStore, Row, StoreError
from connectors.sandbox.server import json_response

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
PERSON_INCLUDE = frozenset(
    {
        "next_activity_id",
        "last_activity_id",
        "open_deals_count",
        "related_open_deals_count",
        "closed_deals_count",
        "related_closed_deals_count",
        "participant_open_deals_count",
        "participant_closed_deals_count",
        "email_messages_count",
        "activities_count",
        "done_activities_count",
        "undone_activities_count",
        "files_count",
        "notes_count",
        "followers_count",
        "won_deals_count",
        "related_won_deals_count",
        "lost_deals_count",
        "related_lost_deals_count",
        "last_incoming_mail_time",
        "last_outgoing_mail_time",
        "marketing_status",
        "doi_status",
        "smart_bcc_email",
    }
)
DEAL_STATUSES = frozenset({"open", "won", "lost", "deleted"})
CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>"
    "<h1>Sorry, you have been blocked</h1><p>You are unable to access pipedrive.com</p>"
    "<p>Cloudflare Ray ID: 7d1c2b3a4e5f6a7b</p></body></html>"
)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None},
        status=status,
        headers=headers,
    )


def unauthorized() -> Response:
    return json_response(
        {
            "success": False,
            "error": "unauthorized access",
            "errorCode": 401,
            "error_info": "Please check developers.pipedrive.com",
        },
        status=401,
        headers={"x-401-by-gw": "true"},
    )


def cloudflare_block() -> Response:
    return Response(
        CLOUDFLARE_PAGE,
        status=403,
        content_type="text/html; charset=UTF-8",
        headers={"server": "cloudflare", "cf-ray": "7d1c2b3a4e5f6a7b-AMS"},
    )


@dataclass
class Credentials:
    api_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    issued: int = 0


@dataclass
class Limits:
    """Per-token burst window and the company's daily token budget, in sandbox-clock seconds."""

    burst: int  # per API token
    oauth_burst: int  # per OAuth access token (higher on every plan)
    window: float
    daily_tokens: int
    enforce: bool
    calls: dict[str, deque[float]] = field(default_factory=dict)
    throttled_until: dict[str, float] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)
    spent: int = 0
    day: str = ""
    writes_today: int = 0


def token_cost(method: str, endpoint: str) -> int:
    """`x-token-cost` of the official specs for the endpoints served here."""
    if endpoint.startswith("v1_"):
        return {"v1_fields_get": 20, "v1_fields_post": 10, "v1_me": 2}[endpoint]
    if endpoint == "stages":
        return 5
    if endpoint == "person":
        return {"GET": 1, "PATCH": 5, "DELETE": 3}[method]
    return 10


def _encode_cursor(sort_by: str, value: Any, row_id: int, direction: str) -> str:
    raw = json.dumps(
        {"field": sort_by, "fieldValue": value, "sortDirection": direction, "id": row_id},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return raw["fieldValue"], int(raw["id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise StoreError(400, "Invalid cursor") from None


def _int_arg(
    args: Any, name: str, default: int | None = None, *, low: int = 0, high: int | None = None
) -> int:
    raw = args.get(name)
    if raw is None:
        if default is None:
            raise StoreError(400, f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StoreError(400, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise StoreError(400, f"{name} must be between {low} and {high}")
    return value


def _time_arg(args: Any, name: str) -> str | None:
    raw = args.get(name)
    if raw is None:
        return None
    moment = parse_time(raw)
    if moment is None or "T" not in raw:
        raise StoreError(400, f"{name} must be an RFC 3339 date-time")
    return format_rfc3339(moment)


def list_page(rows: Iterable[Row], args: Any, *, sortable: frozenset[str]) -> Response:
    """Keyset pagination the way v2 does it: the cursor encodes the last row's sort value and id."""
    limit = _int_arg(args, "limit", 100, low=1, high=500)
    sort_by = args.get("sort_by", "id")
    direction = args.get("sort_direction", "asc")
    if sort_by not in sortable or direction not in ("asc", "desc"):
        raise StoreError(400, "Invalid sort_by or sort_direction")
    since, until = _time_arg(args, "updated_since"), _time_arg(args, "updated_until")
    selected = [
        r
        for r in rows
        if (since is None or r["update_time"] >= since) and (until is None or r["update_time"] < until)
    ]

    def key(row: Row) -> tuple[Any, int]:
        return (row["id"] if sort_by == "id" else row.get(sort_by) or "", row["id"])

    selected.sort(key=key, reverse=direction == "desc")
    cursor = args.get("cursor")
    if cursor:
        mark = _decode_cursor(cursor)
        selected = [r for r in selected if (key(r) > mark if direction == "asc" else key(r) < mark)]
    page, more = selected[:limit], len(selected) > limit
    last = page[-1] if page else None
    next_cursor = _encode_cursor(sort_by, key(last)[0], last["id"], direction) if more and last else None
    return json_response({"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}})


def _ids_arg(args: Any) -> set[int] | None:
    raw = args.get("ids")
    if raw is None:
        return None
    try:
        ids = {int(part) for part in raw.split(",") if part}
    except ValueError:
        raise StoreError(400, "ids must be a comma separated list of integers") from None
    if len(ids) > 100:
        raise StoreError(400, "ids accepts at most 100 ids")
    return ids


class PipedriveApp:
    """The WSGI application; `store`, `credentials` and `limits` are shared with the sandbox facade."""

    def __init__(
        self,
        store: PipedriveStore,
        credentials: Credentials,
        limits: Limits,
        on_refresh: Callable[[], None],
        *,
        record_exchanges: bool = False,
    ) -> None:
        self.store = store
        # (request, response) pairs the app answered, for validating responses against the OpenAPI files
        self.exchanges: list[tuple[Request, Response]] | None = [] if record_exchanges else None
        self.credentials = credentials
        self.limits = limits
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        v1 = ["/v1", "/api/v1"]
        rules = [
            Rule("/api/v2/persons", endpoint="persons", methods=["GET"]),
            Rule("/api/v2/persons/<int:person_id>", endpoint="person", methods=["GET", "PATCH", "DELETE"]),
            Rule("/api/v2/deals", endpoint="deals", methods=["GET"]),
            Rule("/api/v2/activities", endpoint="activities", methods=["GET"]),
            Rule("/api/v2/organizations", endpoint="organizations", methods=["GET"]),
            Rule("/api/v2/stages", endpoint="stages", methods=["GET"]),
            Rule("/oauth/token", endpoint="oauth_token", methods=["POST"]),
        ]
        for prefix in v1:
            rules.append(Rule(f"{prefix}/personFields", endpoint="v1_fields_get", methods=["GET"]))
            rules.append(Rule(f"{prefix}/personFields", endpoint="v1_fields_post", methods=["POST"]))
            rules.append(Rule(f"{prefix}/users/me", endpoint="v1_me", methods=["GET"]))
        self.url_map = Map(rules, strict_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # the harness already read the body into the Request it stored in the environ: reuse that one
        request = environ.get("werkzeug.request")
        if not isinstance(request, Request):
            request = Request(environ)
        response = self.dispatch(request)
        if self.exchanges is not None:
            with self._lock:
                self.exchanges.append((request, response))
        return response(environ, start_response)

    # -- auth and limits -------------------------------------------------------------------------------

    def now_s(self) -> float:
        return self.store.clock.now().timestamp()

    def token_of(self, request: Request) -> str | None:
        """The caller's token (the header only: the sandbox refuses the `api_token` query parameter)."""
        header = request.headers.get("x-api-token")
        if header and header == self.credentials.api_token:
            return "api:" + header
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[7:]
            with self._lock:
                expiry = self.credentials.access_tokens.get(token)
            if expiry is not None and self.now_s() < expiry:
                return "oauth:" + token
        return None

    def _burst(self, token: str) -> int:
        return self.limits.oauth_burst if token.startswith("oauth:") else self.limits.burst

    def _limit_headers(self, token: str) -> dict[str, str]:
        limits = self.limits
        burst = self._burst(token)
        window = limits.calls.setdefault(token, deque())
        now = self.now_s()
        while window and window[0] <= now - limits.window:
            window.popleft()
        used = len(window) if limits.enforce else 0
        reset = math.ceil(window[0] + limits.window - now) if window and limits.enforce else 0
        spent = limits.spent if limits.enforce else 0
        headers = {
            "x-ratelimit-limit": str(burst),
            "x-ratelimit-remaining": str(max(burst - used, 0)),
            "x-ratelimit-reset": str(max(reset, 0)),
            "x-daily-ratelimit-token-limit": str(limits.daily_tokens),
            "x-daily-ratelimit-token-remaining": str(max(limits.daily_tokens - spent, 0)),
        }
        if token.startswith("api:"):
            headers["x-daily-requests-left"] = str(max(10_000 - limits.writes_today, 0))
        return headers

    def _admit(self, token: str, method: str, endpoint: str) -> Response | None:
        """Count the call; when limits are enforced, answer 429 (burst or daily) or Cloudflare's 403."""
        limits = self.limits
        now = self.now_s()
        day = self.store.clock.now().date().isoformat()
        if day != limits.day:
            limits.day, limits.spent, limits.writes_today = day, 0, 0
        window = limits.calls.setdefault(token, deque())
        while window and window[0] <= now - limits.window:
            window.popleft()
        if limits.enforce:
            if now < limits.throttled_until.get(token, 0.0):
                limits.violations[token] = limits.violations.get(token, 0) + 1
                if limits.violations[token] >= 2:
                    return cloudflare_block()
            else:
                limits.violations[token] = 0
            if len(window) >= self._burst(token):
                limits.throttled_until[token] = window[0] + limits.window
                return error_response(429, "Request over limit", headers=self._limit_headers(token))
            cost = token_cost(method, endpoint)
            if limits.spent + cost > limits.daily_tokens:
                headers = self._limit_headers(token)
                headers["x-daily-ratelimit-token-remaining"] = "0"
                return error_response(429, "Daily token budget exceeded", headers=headers)
            limits.spent += cost
        window.append(now)
        if method in ("POST", "PUT", "PATCH"):
            limits.writes_today += 1
        return None

    # -- dispatch --------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except NotFound:
            return unauthorized() if self.token_of(request) is None else error_response(404, "Not found")
        except HTTPException as exc:
            return error_response(exc.code or 405, exc.description or "Method not allowed")
        if endpoint == "oauth_token":
            return self.oauth_token(request)
        token = self.token_of(request)
        if token is None:
            return unauthorized()
        with self._lock:
            refused = self._admit(token, request.method, str(endpoint))
            headers = self._limit_headers(token)
        if refused is not None:
            return refused
        try:
            with self.store.lock:
                response: Response = getattr(self, str(endpoint))(request, **values)
        except StoreError as exc:
            response = error_response(exc.status, exc.message)
        response.headers.update(headers)
        return response

    # -- endpoints -------------------------------------------------------------------------------------

    def persons(self, request: Request) -> Response:
        args = request.args
        include = [name for name in (args.get("include_fields") or "").split(",") if name]
        if not set(include) <= PERSON_INCLUDE:
            raise StoreError(400, "include_fields contains an unknown field")
        custom = [key for key in (args.get("custom_fields") or "").split(",") if key]
        if len(custom) > 15:
            raise StoreError(400, "custom_fields accepts at most 15 keys")
        ids, owner = _ids_arg(args), args.get("owner_id")
        rows = [
            p
            for p in self.store.persons.values()
            if not p["is_deleted"]
            and (ids is None or p["id"] in ids)
            and (owner is None or str(p["owner_id"]) == owner)
        ]
        response = list_page(rows, args, sortable=frozenset({"id", "update_time", "add_time"}))
        body = json.loads(response.get_data())
        body["data"] = [self.store.person_view(row, include) for row in body["data"]]
        if custom:
            for row in body["data"]:
                row["custom_fields"] = {k: v for k, v in row["custom_fields"].items() if k in custom}
        return json_response(body)

    def person(self, request: Request, person_id: int) -> Response:
        if request.method == "GET":
            person = self.store.persons.get(person_id)
            if person is None:
                raise StoreError(404, "Person not found")
            return json_response({"success": True, "data": self.store.person_view(person, ())})
        if request.method == "DELETE":
            self.store.delete_person(person_id)
            return json_response({"success": True, "data": {"id": person_id}})
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise StoreError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise StoreError(400, "Request body must be an object")
        person = self.store.update_person(person_id, body)
        return json_response({"success": True, "data": self.store.person_view(person, ())})

    def deals(self, request: Request) -> Response:
        args = request.args
        statuses = set((args.get("status") or "open,won,lost").split(","))
        if not statuses <= DEAL_STATUSES:
            raise StoreError(400, "status must be open, won, lost or deleted")
        ids, person = _ids_arg(args), args.get("person_id")
        rows = [
            d
            for d in self.store.deals.values()
            if d["status"] in statuses
            and (ids is None or d["id"] in ids)
            and (person is None or str(d["person_id"]) == person)
        ]
        return list_page(rows, args, sortable=frozenset({"id", "update_time", "add_time"}))

    def activities(self, request: Request) -> Response:
        args = request.args
        ids, person, done = _ids_arg(args), args.get("person_id"), args.get("done")
        rows = [
            a
            for a in self.store.activities.values()
            if not a["is_deleted"]
            and (ids is None or a["id"] in ids)
            and (person is None or str(a["person_id"]) == person)
            and (done is None or a["done"] == (done == "true"))
        ]
        return list_page(rows, args, sortable=frozenset({"id", "update_time", "add_time", "due_date"}))

    def organizations(self, request: Request) -> Response:
        ids = _ids_arg(request.args)
        rows = [o for o in self.store.orgs.values() if ids is None or o["id"] in ids]
        return list_page(rows, request.args, sortable=frozenset({"id", "update_time", "add_time"}))

    def stages(self, request: Request) -> Response:
        return list_page(
            list(self.store.stages),
            request.args,
            sortable=frozenset({"id", "update_time", "add_time", "order_nr"}),
        )

    def v1_fields_get(self, request: Request) -> Response:
        start = _int_arg(request.args, "start", 0)
        limit = _int_arg(request.args, "limit", 100, low=1, high=500)
        rows = self.store.fields[start : start + limit]
        more = start + limit < len(self.store.fields)
        pagination: Row = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return json_response({"success": True, "data": rows, "additional_data": {"pagination": pagination}})

    def v1_fields_post(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise StoreError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise StoreError(400, "Request body must be an object")
        row = self.store.add_field(
            str(body.get("name") or ""), str(body.get("field_type") or ""), body.get("options") or ()
        )
        return json_response({"success": True, "data": row})

    def v1_me(self, request: Request) -> Response:
        return json_response(
            {
                "success": True,
                "data": {
                    "id": 1,
                    "name": "API user",
                    "email": "api@seller.example",
                    "default_currency": "EUR",
                    "locale": "en_US",
                    "lang": 1,
                    "activated": True,
                    "company_id": 1,
                    "company_domain": "sandbox",
                },
            }
        )

    def oauth_token(self, request: Request) -> Response:
        auth = request.authorization
        creds = self.credentials
        if auth is None or auth.username != creds.client_id or auth.password != creds.client_secret:
            return json_response({"success": False, "message": "Invalid client credentials"}, status=401)
        if (
            request.form.get("grant_type") != "refresh_token"
            or request.form.get("refresh_token") != creds.refresh_token
        ):
            return json_response({"success": False, "message": "Invalid grant"}, status=400)
        with self._lock:
            creds.issued += 1
            access = f"v1u:sandbox-access-{creds.issued:04d}-{self.store.seed}"
            creds.access_tokens[access] = self.now_s() + 3599
        self._on_refresh()
        base = f"{request.scheme}://{request.host}"
        return json_response(
            {
                "access_token": access,
                "token_type": "Bearer",
                "refresh_token": creds.refresh_token,
                "scope": "base,contacts:full,deals:read,activities:read",
                "expires_in": 3599,
                "api_domain": base,
            }
        )
