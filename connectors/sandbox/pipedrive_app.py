"""The Pipedrive sandbox's HTTP side: real paths, query and body shapes, keyset cursors, error envelopes,
rate-limit headers and (when enforced) the burst window, the daily token budget, the 429 bodies and the
Cloudflare 403 HTML page that follows ignored 429s.

Served: `GET /api/v2/{persons,deals,activities,organizations,stages,dealFields}`, `GET|PATCH|DELETE
/api/v2/persons/{id}`, `GET|POST /v1/personFields` and `PUT /v1/persons/{id}/merge` (also under
`/api/v1`), `GET /v1/users/me`, and the OAuth `POST /oauth/token` (refresh_token grant, HTTP Basic client
credentials). Persons deleted 30 days ago are purged before each request is answered.

This module routes, authenticates and serves the endpoints; the limits are counted in `pipedrive_limits`,
list arguments and keyset pages handled by `pipedrive_paging`, error bodies written by `pipedrive_errors`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.pipedrive_activities import ActivityWrites
from connectors.sandbox.pipedrive_errors import error_response, unauthorized
from connectors.sandbox.pipedrive_limits import Limits
from connectors.sandbox.pipedrive_merge import merge_answer, merge_persons
from connectors.sandbox.pipedrive_paging import ids_arg, int_arg, list_page
from connectors.sandbox.pipedrive_store import PipedriveStore, Row, StoreError
from connectors.sandbox.server import json_response

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


@dataclass
class Credentials:
    api_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    issued: int = 0


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
        self.activity_writes = ActivityWrites(store)
        # (request, response) pairs the app answered, for validating responses against the OpenAPI files
        self.exchanges: list[tuple[Request, Response]] | None = [] if record_exchanges else None
        self.credentials = credentials
        self.limits = limits
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        v1_prefixes = ["/v1", "/api/v1"]
        rules = [
            Rule("/api/v2/persons", endpoint="persons", methods=["GET"]),
            Rule("/api/v2/persons/<int:person_id>", endpoint="person", methods=["GET", "PATCH", "DELETE"]),
            Rule("/api/v2/deals", endpoint="deals", methods=["GET"]),
            Rule("/api/v2/activities", endpoint="activities", methods=["GET"]),
            Rule("/api/v2/activities", endpoint="activity_create", methods=["POST"]),
            Rule("/api/v2/activities/<int:activity_id>", endpoint="activity_update", methods=["PATCH"]),
            Rule("/api/v2/organizations", endpoint="organizations", methods=["GET"]),
            Rule("/api/v2/stages", endpoint="stages", methods=["GET"]),
            Rule("/api/v2/dealFields", endpoint="deal_fields", methods=["GET"]),
            Rule("/oauth/token", endpoint="oauth_token", methods=["POST"]),
        ]
        for prefix in v1_prefixes:
            rules.append(Rule(f"{prefix}/personFields", endpoint="v1_fields_get", methods=["GET"]))
            rules.append(Rule(f"{prefix}/personFields", endpoint="v1_fields_post", methods=["POST"]))
            rules.append(Rule(f"{prefix}/users/me", endpoint="v1_me", methods=["GET"]))
            rules.append(Rule(f"{prefix}/persons/<int:person_id>/merge", endpoint="v1_merge", methods=["PUT"]))
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
            refused = self.limits.admit(token, request.method, str(endpoint), now=self.now_s(),
                                        day=self.store.clock.now().date().isoformat())
            headers = self.limits.headers(token, now=self.now_s())
        if refused is not None:
            return refused
        try:
            with self.store.lock:
                self.store.purge()
                response: Response = getattr(self, str(endpoint))(request, **values)
        except StoreError as exc:
            response = error_response(exc.status, str(exc))
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
        ids, owner = ids_arg(args), args.get("owner_id")
        rows = [
            person
            for person in self.store.persons.values()
            if not person["is_deleted"]
            and (ids is None or person["id"] in ids)
            and (owner is None or str(person["owner_id"]) == owner)
        ]
        response = list_page(rows, args, sortable=frozenset({"id", "update_time", "add_time"}))
        body = json.loads(response.get_data())
        body["data"] = [self.store.person_view(row, include) for row in body["data"]]
        if custom:
            for row in body["data"]:
                row["custom_fields"] = {key: value for key, value in row["custom_fields"].items() if key in custom}
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
        ids, person = ids_arg(args), args.get("person_id")
        rows = [
            value
            for value in self.store.deals.values()
            if value["status"] in statuses
            and (ids is None or value["id"] in ids)
            and (person is None or str(value["person_id"]) == person)
        ]
        return list_page(rows, args, sortable=frozenset({"id", "update_time", "add_time"}),
                         render=lambda row: self.store.served_row("deal", row))

    def activities(self, request: Request) -> Response:
        args = request.args
        ids, person, done = ids_arg(args), args.get("person_id"), args.get("done")
        rows = [
            value
            for value in self.store.activities.values()
            if not value["is_deleted"]
            and (ids is None or value["id"] in ids)
            and (person is None or str(value["person_id"]) == person)
            and (done is None or value["done"] == (done == "true"))
        ]
        return list_page(rows, args, sortable=frozenset({"id", "update_time", "add_time", "due_date"}),
                         render=lambda row: self.store.served_row("activity", row))

    def activity_create(self, request: Request) -> Response:
        row = self.activity_writes.create(request.get_data())
        return json_response({"success": True, "data": self.store.served_row("activity", row)})

    def activity_update(self, request: Request, activity_id: int) -> Response:
        row = self.activity_writes.update(activity_id, request.get_data())
        return json_response({"success": True, "data": self.store.served_row("activity", row)})

    def organizations(self, request: Request) -> Response:
        ids = ids_arg(request.args)
        rows = [org for org in self.store.orgs.values() if ids is None or org["id"] in ids]
        return list_page(rows, request.args, sortable=frozenset({"id", "update_time", "add_time"}),
                         render=lambda row: self.store.served_row("organization", row))

    def stages(self, request: Request) -> Response:
        return list_page(
            list(self.store.stages),
            request.args,
            sortable=frozenset({"id", "update_time", "add_time", "order_nr"}),
        )

    def deal_fields(self, request: Request) -> Response:
        """`GET /api/v2/dealFields`: the deal fields' metadata, custom ones by 40-hex `field_code`."""
        return list_page(list(self.store.deal_fields), request.args, sortable=frozenset({"id"}),
                         render=lambda row: {key: value for key, value in row.items() if key != "id"})

    def v1_fields_get(self, request: Request) -> Response:
        start = int_arg(request.args, "start", 0)
        limit = int_arg(request.args, "limit", 100, low=1, high=500)
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

    def v1_merge(self, request: Request, person_id: int) -> Response:
        """`PUT /v1/persons/{id}/merge` `{"merge_with_id": survivor}` (see `pipedrive_merge`)."""
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise StoreError(400, "Request body is not valid JSON") from None
        survivor_id = body.get("merge_with_id") if isinstance(body, dict) else None
        if not isinstance(survivor_id, int) or isinstance(survivor_id, bool):
            raise StoreError(400, "merge_with_id is required and must be an integer")
        survivor = merge_persons(self.store, person_id, survivor_id)
        return json_response({"success": True, "data": merge_answer(self.store, survivor, person_id)})

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
