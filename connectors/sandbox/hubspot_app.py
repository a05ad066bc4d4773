"""The HubSpot sandbox's HTTP face: the real paths, query and body shapes, limits, errors and headers.

Endpoints: contact list (`GET /crm/v3/objects/contacts`, ≤100, opaque `after`, inline associations capped
at 100 per type with their own paging, `archived=true`), contact search (≤200, integer `after`, 400 past
the 10,000-result cap, 5×6 filters / 18 in all, one sort, no archived records, no rate-limit headers),
object batch read (≤100, 207 for ids that do not exist), task batch create and update (`hubspot_tasks`),
search (with the `associations.{type}` pseudo-property) and list of every object type (contacts,
companies, deals, calls, emails, meetings, notes, tasks, communications), contact batch update (≤100,
duplicate ids and invalid values, a backward lifecycle stage included, reject the whole batch with 400,
unknown ids come back in a 207), v4 association batch read in either direction (≤1000 inputs, 500
associations per input and page, 207 NO_ASSOCIATIONS_FOUND), deal pipelines, contact properties and
property groups (201 / 409 OBJECT_ALREADY_EXISTS; `batch/create`: 201, or 207 naming the properties that
already exist) and `POST /oauth/v1/token`.

Every non-search answer carries X-HubSpot-RateLimit-{Max,Remaining,Interval-Milliseconds} (and
-Daily/-Daily-Remaining for private-app tokens); with `enforce_limits` the 10-second, per-second search
and daily limits are answered 429 with HubSpot's own bodies. Errors use HubSpot's envelope
`{status, message, correlationId, category, ...}`.

This module routes, authenticates and serves the object endpoints; the limits are counted in
`hubspot_limits`, the error bodies written in `hubspot_errors`, the schema endpoints (pipelines,
properties, groups) served by `hubspot_metadata`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.hubspot_errors import HubSpotApiStyle, error_response
from connectors.sandbox.hubspot_limits import Limits, RateCounter
from connectors.sandbox.hubspot_metadata import HubSpotMetadataApi
from connectors.sandbox.hubspot_search import matches, sort_key
from connectors.sandbox.hubspot_store import OBJECT_TYPES, SINGULAR, HubSpotStore, ValidationFailure, id_order, iso
from connectors.sandbox.hubspot_tasks import TaskWrites
from connectors.sandbox.server import FaultPlan, json_response

#: HubSpot-defined association type ids, per direction ("Associations v4", "Association type id values")
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280, ("contacts", "deals"): 4,
    ("deals", "contacts"): 3, ("contacts", "calls"): 193, ("calls", "contacts"): 194, ("contacts", "emails"): 197,
    ("emails", "contacts"): 198, ("contacts", "meetings"): 199, ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201, ("notes", "contacts"): 202, ("contacts", "tasks"): 203, ("tasks", "contacts"): 204,
    ("contacts", "communications"): 81, ("communications", "contacts"): 82,
}


@dataclass(frozen=True)
class Exchange:
    """One request the app answered and its answer, for validating both against the OpenAPI files."""

    method: str
    path: str
    query: str
    content_type: str
    body: bytes
    status: int
    response_type: str
    response: bytes


@dataclass
class Credentials:
    private_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    access_tokens: dict[str, int] = field(default_factory=dict)  # OAuth access token -> expiry (ms)
    issued: int = 0


class HubSpotApp:
    """The WSGI application. Thread-safe: the store has its own lock, the limiters and logs theirs."""

    def __init__(self, store: HubSpotStore, credentials: Credentials, *, enforce_limits: bool,
                 limits: Limits | None = None, faults: FaultPlan | None = None) -> None:
        self.store = store
        self.credentials = credentials
        self.faults = faults or FaultPlan()
        self.limits = limits or Limits()
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._correlations = 0
        self.style = HubSpotApiStyle(self.correlation)
        self.rates = RateCounter(self.limits, enforce=enforce_limits, now=store.now, correlation=self.correlation)
        metadata = HubSpotMetadataApi(store, self.correlation)
        self.tasks = TaskWrites(store, self._batch_answer, batch_max=self.limits.batch_max)
        self._endpoints: dict[str, Callable[..., Response]] = {
            "list": self.list, "search": self.search, "batch_read": self.batch_read,
            "batch_update": self.batch_update, "associations": self.associations,
            "batch_create": self.batch_create,
            "pipelines": metadata.pipelines, "groups": metadata.groups, "group": metadata.group,
            "properties": metadata.properties, "property": metadata.property,
            "properties_batch_create": metadata.batch_create,
        }
        self.url_map = Map([
            Rule("/oauth/v1/token", methods=["POST"], endpoint="token"),
            Rule("/crm/v3/objects/<object_type>", methods=["GET"], endpoint="list"),
            Rule("/crm/v3/objects/<object_type>/search", methods=["POST"], endpoint="search"),
            Rule("/crm/v3/objects/<object_type>/batch/read", methods=["POST"], endpoint="batch_read"),
            Rule("/crm/v3/objects/<object_type>/batch/update", methods=["POST"], endpoint="batch_update"),
            Rule("/crm/v3/objects/<object_type>/batch/create", methods=["POST"], endpoint="batch_create"),
            Rule("/crm/v4/associations/<from_type>/<to_type>/batch/read", methods=["POST"], endpoint="associations"),
            Rule("/crm/v3/pipelines/<object_type>", methods=["GET"], endpoint="pipelines"),
            Rule("/crm/v3/properties/<object_type>/groups", methods=["GET", "POST"], endpoint="groups"),
            Rule("/crm/v3/properties/<object_type>/groups/<name>", methods=["GET"], endpoint="group"),
            Rule("/crm/v3/properties/<object_type>", methods=["GET", "POST"], endpoint="properties"),
            Rule("/crm/v3/properties/<object_type>/batch/create", methods=["POST"],
                 endpoint="properties_batch_create"),
            Rule("/crm/v3/properties/<object_type>/<name>", methods=["GET"], endpoint="property"),
        ], strict_slashes=False)

    # -- WSGI --------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # the harness already read the body through its own Request (kept in the environ): reuse it
        request = environ.get("werkzeug.request")
        if not isinstance(request, Request):
            request = Request(environ)
        response = self.dispatch(request)
        with self._lock:
            self.exchanges.append(Exchange(request.method, request.path, request.query_string.decode(),
                                           request.content_type or "", request.get_data(cache=True),
                                           response.status_code, response.content_type or "", response.get_data()))
        return response(environ, start_response)

    def correlation(self) -> str:
        with self._lock:
            self._correlations += 1
            return str(uuid.UUID(int=self._correlations))

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            return error_response(exc.code or 404, "OBJECT_NOT_FOUND", f"No route for {request.method} {request.path}",
                                  self.correlation())
        if endpoint == "token":
            return self.token(request)
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        search = endpoint == "search"
        throttled = self.rates.admit(search)
        if throttled is not None:
            return throttled
        try:
            response = self._endpoints[endpoint](request, **args)
        except ValidationFailure as exc:
            response = error_response(400, "VALIDATION_ERROR", exc.message, self.correlation(), errors=exc.details)
        except (ValueError, KeyError, TypeError) as exc:
            response = error_response(400, "VALIDATION_ERROR", f"Invalid input: {exc}", self.correlation())
        if not search:
            private_app = self._token_of(request) == self.credentials.private_token
            response.headers.update(self.rates.headers(daily=private_app))
        return response

    # -- auth and limits -----------------------------------------------------------------------------------

    def _token_of(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else None

    def authenticate(self, request: Request) -> Response | None:
        token = self._token_of(request)
        if token is None:
            return error_response(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API "
                                  "supports OAuth 2.0 authentication.", self.correlation())
        if token == self.credentials.private_token:
            return None
        expiry = self.credentials.access_tokens.get(token)
        if expiry is None:
            return error_response(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.",
                                  self.correlation())
        now = self.store.now()
        if now >= expiry:
            return error_response(401, "EXPIRED_AUTHENTICATION", f"The OAuth token used to make this call expired "
                                  f"{(now - expiry) // 1000} second(s) ago.", self.correlation(),
                                  context={"expire time": [iso(expiry)]})
        return None

    def is_authenticated_call(self, request: Request) -> bool:
        return not request.path.startswith("/oauth/")

    def token(self, request: Request) -> Response:
        form, creds = request.form, self.credentials
        if form.get("grant_type") != "refresh_token":
            return json_response({"status": "BAD_GRANT_TYPE", "message": "unsupported grant_type",
                                  "correlationId": self.correlation()}, status=400)
        if form.get("client_id") != creds.client_id or form.get("client_secret") != creds.client_secret:
            return json_response({"status": "BAD_CLIENT_ID", "message": "missing or unknown client id",
                                  "correlationId": self.correlation()}, status=400)
        if form.get("refresh_token") != creds.refresh_token:
            return json_response({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
                                  "correlationId": self.correlation()}, status=400)
        with self._lock:
            creds.issued += 1
            digest = hashlib.sha256(f"{creds.client_secret}:{creds.issued}".encode()).hexdigest()
        token = f"CJT{creds.issued}{digest[:40]}"
        creds.access_tokens[token] = self.store.now() + 1_800_000
        self.faults.token_calls_left = None  # the expiry scheduled by a test applied to the previous token
        return json_response({"token_type": "bearer", "refresh_token": creds.refresh_token, "access_token": token,
                              "expires_in": 1800})

    # -- objects -------------------------------------------------------------------------------------------

    def _object_type(self, object_type: str) -> str:
        if object_type not in OBJECT_TYPES:
            raise ValidationFailure(f"Unable to infer object type from: {object_type}")
        return object_type

    def list(self, request: Request, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        limit = int(request.args.get("limit", "10"))
        if not 0 < limit <= self.limits.list_max:
            raise ValidationFailure(f"limit must be between 1 and {self.limits.list_max}")
        archived = request.args.get("archived", "false").lower() == "true"
        names = _multi(request.args.getlist("properties"))
        associations = _multi(request.args.getlist("associations"))
        after = id_order(_unwrap(request.args["after"])) if request.args.get("after") else None
        with self.store.lock:
            records = sorted((record for record in self.store.objects[object_type].values()
                              if (record.archived_at is not None) == archived
                              and (after is None or id_order(record.id) > after)),
                             key=lambda record: id_order(record.id))
            page = records[:limit]
            results = [self._with_associations(record.view(names or None, object_type), object_type,
                                               record.id, associations)
                       for record in page]
        body: dict[str, Any] = {"results": results}
        if len(records) > limit:
            token = _wrap(page[-1].id)
            body["paging"] = {"next": {"after": token, "link": f"?after={token}"}}
        return json_response(body)

    def _with_associations(self, view: dict[str, Any], object_type: str, native_id: str,
                           associations: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for to_type in associations:
            if to_type not in OBJECT_TYPES:
                continue  # HubSpot ignores association types that do not exist
            targets = self.store.linked(object_type, native_id, to_type)
            if not targets:
                continue
            cap = self.limits.inline_association_cap
            label = f"{SINGULAR[object_type]}_to_{SINGULAR[to_type]}"
            entry: dict[str, Any] = {"results": [{"id": target, "type": label} for target in targets[:cap]]}
            if len(targets) > cap:
                entry["paging"] = {"next": {"after": _wrap(str(cap)), "link": "?after=" + _wrap(str(cap))}}
            found[to_type] = entry
        if found:
            view["associations"] = found
        return view

    def search(self, request: Request, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        body = request.get_json(force=True)
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        if not 0 < limit <= self.limits.search_max:
            raise ValidationFailure(f"limit must be between 1 and {self.limits.search_max}")
        if len(groups) > 5 or any(len(group.get("filters") or []) > 6 for group in groups) \
                or sum(len(group.get("filters") or []) for group in groups) > 18:
            raise ValidationFailure("Too many filters: at most 5 filter groups of 6 filters, 18 in all")
        if len(sorts) > 1:
            raise ValidationFailure("Only one sort is supported")
        if after + limit > self.limits.search_result_cap:
            raise ValidationFailure(f"Paging beyond {self.limits.search_result_cap} results is not supported")
        with self.store.lock:
            matched = [record for record in self.store.live(object_type) if not groups or any(
                all(matches(self.store, object_type, record, condition)
                    for condition in group.get("filters") or []) for group in groups)]
            matched.sort(key=sort_key(self.store, object_type, sorts[0] if sorts else "createdate"))
            names = body.get("properties") or ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                                               "lastname"]
            results = [record.view(names, object_type) for record in matched[after:after + limit]]
        answer: dict[str, Any] = {"total": len(matched), "results": results}
        if after + limit < len(matched):
            answer["paging"] = {"next": {"after": str(after + limit), "link": ""}}
        return json_response(answer)

    def batch_read(self, request: Request, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        body = request.get_json(force=True)
        inputs = body.get("inputs") or []
        if len(inputs) > self.limits.batch_max:
            raise ValidationFailure(f"Batch input limit is {self.limits.batch_max}")
        names = body.get("properties") or None
        with_history = body.get("propertiesWithHistory") or []
        if with_history and len(inputs) > self.limits.history_batch_max:  # "CRM API | Contacts", batch read
            raise ValidationFailure(f"The maximum number of inputs supported in a batch request for property "
                                    f"histories is {self.limits.history_batch_max}. Please reduce the number of "
                                    "items and try again")
        found, missing = [], []
        with self.store.lock:
            for item in inputs:
                record = self.store.get(object_type, str(item["id"]))
                if record is None:
                    missing.append(str(item["id"]))
                else:
                    view = record.view(names, object_type)
                    if with_history:
                        view["propertiesWithHistory"] = record.history_view(with_history)
                    found.append(view)
        return self._batch_answer(found, missing, f"Could not get some {object_type} objects, they may be deleted "
                                  "or not exist.")

    def _batch_answer(self, results: list[dict[str, Any]], missing: list[str], message: str) -> Response:
        now = iso(self.store.now())
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if not missing:
            return json_response(body)
        body.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND", "message": message,
                                          "context": {"ids": missing}, "errors": [], "links": {}}])
        return json_response(body, status=207)

    def batch_create(self, request: Request, object_type: str) -> Response:
        if object_type != "tasks":
            raise ValidationFailure(f"The sandbox creates tasks only, not {object_type}")
        return self.tasks.batch_create(request)

    def batch_update(self, request: Request, object_type: str) -> Response:
        if object_type == "tasks":
            return self.tasks.batch_update(request)
        if object_type != "contacts":
            raise ValidationFailure(f"The sandbox updates contacts and tasks only, not {object_type}")
        inputs = request.get_json(force=True).get("inputs") or []
        if len(inputs) > self.limits.batch_max:
            raise ValidationFailure(f"Batch input limit is {self.limits.batch_max}")
        ids = [str(item["id"]) for item in inputs]
        if len(set(ids)) != len(ids):
            raise ValidationFailure("Duplicate IDs found in batch input")
        problems = [problem for item in inputs
                    for problem in self.store.validate_contact_values(item.get("properties") or {}, str(item["id"]))]
        if problems:
            raise ValidationFailure("Property values were not valid", problems)
        results, missing = self.store.update_existing("contacts", inputs, self.store.write_contact)
        return self._batch_answer(results, missing, "Some contacts could not be found.")

    def associations(self, request: Request, from_type: str, to_type: str) -> Response:
        from_type, to_type = self._object_type(from_type), self._object_type(to_type)
        inputs = request.get_json(force=True).get("inputs") or []
        if len(inputs) > self.limits.association_batch_max:
            raise ValidationFailure(f"Batch input limit is {self.limits.association_batch_max}")
        results, empty = [], []
        page = self.limits.association_page
        with self.store.lock:
            for item in inputs:
                native_id = str(item["id"])
                offset = int(_unwrap(item["after"])) if item.get("after") else 0
                targets = self.store.linked(from_type, native_id, to_type)
                if not targets:
                    empty.append(native_id)
                    continue
                chunk = targets[offset:offset + page]
                entry: dict[str, Any] = {"from": {"id": native_id}, "to": [
                    {"toObjectId": target, "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                                            "typeId": ASSOCIATION_TYPE_IDS[(from_type, to_type)]}]}
                    for target in chunk]}
                if offset + page < len(targets):
                    entry["paging"] = {"next": {"after": _wrap(str(offset + page))}}
                results.append(entry)
        now = iso(self.store.now())
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if not empty:
            return json_response(body)
        body.update(numErrors=len(empty), errors=[{
            # HubSpot adds subCategory "crm.associations.NO_ASSOCIATIONS_FOUND"; the official spec types
            # subCategory as an object, so the sandbox leaves it out to stay valid against that file
            "status": "error", "category": "OBJECT_NOT_FOUND",
            "message": f"No {SINGULAR[to_type]} is associated with {SINGULAR[from_type]} {native_id}.",
            "context": {"fromObjectId": [native_id], "fromObjectType": [SINGULAR[from_type]],
                        "toObjectType": [SINGULAR[to_type]]}, "errors": [], "links": {}} for native_id in empty])
        return json_response(body, status=207)

def _multi(values: list[str]) -> list[str]:
    """Query arrays arrive as repeated keys (what the SDK sends) or comma-separated: accept both."""
    return [part for value in values for part in value.split(",") if part]


def _wrap(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _unwrap(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailure("Invalid paging cursor") from None


__all__ = ["Credentials", "Exchange", "HubSpotApp"]
