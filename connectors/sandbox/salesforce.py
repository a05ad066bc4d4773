"""The Salesforce sandbox: an HTTPS org on 127.0.0.1 that the real simple-salesforce client talks to.

It serves the OAuth token endpoint (its base URL is both the login and the instance URL), SOQL
query/queryAll with `nextRecordsUrl` paging (batchSize 200-2000; queryAll adds the recycle bin: records
deleted or merged away in the last 15 days, `IsDeleted = true`), describe, limits, sObject Collections
update (at most 200 records, at most 10 type chunks) and the Metadata API's createMetadata, with the
org's error bodies, `Sforce-Limit-Info: api-usage=used/max` on every REST answer, sessions that time out
on the injected clock (2 h by default) and, with `enforce_limits`, the rolling 24 h allocation answered
with 403 REQUEST_LIMIT_EXCEEDED. Salesforce has no per-second limit to enforce: its concurrency limit
(25 requests running 20 s or more) is not emulated, since nothing here runs that long; schedule it
with `faults.add("rate_limit")`, which answers in the same shape.

TLS comes from a throw-away local CA, made by each `start()` and removed by `stop()`; `settings()` hands
the connector its `ca_bundle`.
"""

from __future__ import annotations

import base64
import json
import hashlib
import logging
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Unpack

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response


from connectors.salesforce.values import to18
from connectors.salesforce.settings import DEFAULT_FIELD_MAP, SalesforceSettings
from connectors.sandbox import salesforce_soap as soap
from connectors.sandbox.lifecycle import SandboxOptions
from connectors.sandbox.seeding import SeededSandbox
from connectors.sandbox.salesforce_errors import SalesforceStyle
from connectors.sandbox.salesforce_rest import RestApi, error, ok
from connectors.sandbox.salesforce_seed import Seeder, mapping_for_settings, neutral_to_native
from connectors.sandbox.salesforce_store import Org
from connectors.sandbox.salesforce_tasks import TaskInserts
from connectors.sandbox.server import LocalCA, SandboxServer, json_response

API_VERSION = "59.0"
DEFAULT_DAILY_LIMIT = 100_000


class SalesforceSandbox(SeededSandbox):
    crm = "salesforce"

    def __init__(
        self,
        *,
        daily_limit: int = DEFAULT_DAILY_LIMIT,
        session_timeout: timedelta = timedelta(hours=2),
        grant_fls_on_create: bool = True,
        stock_org: bool = False,
        **options: Unpack[SandboxOptions],
    ) -> None:
        """`stock_org`: an org as Salesforce delivers it, without the custom fields this sandbox's org is
        built with (qualification fields, seniority, the opportunities' contract term) and with the
        integration user denied Campaigns, so CampaignMember is out of its reach (the object needs Read on
        Campaigns, "CampaignMember" in the Object Reference for the Salesforce Platform)."""
        super().__init__(**options)
        self.daily_limit = daily_limit
        self.session_timeout = session_timeout
        self.grant_fls_on_create = grant_fls_on_create
        self.org = Org(self.clock, api_version=API_VERSION)
        if stock_org:
            self.org.remove_custom_fields()
            self.deny("Campaign", "CampaignMember")
        self.seeder = Seeder(self.org)
        self.rest = RestApi(self.org)
        self.task_inserts = TaskInserts(self.org)
        self.metadata = soap.MetadataApi(
            self.org, session_ok=self._session_ok, grant_fls_on_create=lambda: self.grant_fls_on_create
        )
        digest = hashlib.sha256(f"crmsync-salesforce-sandbox:{self.seed_value}".encode()).hexdigest()
        self.org_id = to18("00D8d" + digest[:10].upper().replace("E", "X"))
        self._client_id = f"3MVG9crmsyncSandbox.{digest[:24]}"
        self._client_secret = digest[24:56].upper()
        self._refresh_token = f"5Aep861crmsync.{digest[32:64]}"
        self._refresh_revoked = False
        self._sessions: dict[str, datetime] = {}
        self._issued = 0
        self._usage: deque[datetime] = deque()
        self._lock = threading.Lock()
        self._ca: LocalCA | None = None
        self.map = Map(
            [
                Rule("/services/oauth2/token", endpoint="token", methods=["POST"]),
                Rule("/services/data/v<version>/query/", endpoint="query", methods=["GET"]),
                Rule("/services/data/v<version>/queryAll/", endpoint="query_all", methods=["GET"]),
                Rule("/services/data/v<version>/query/<cursor>", endpoint="query_more", methods=["GET"]),
                Rule("/services/data/v<version>/queryAll/<cursor>", endpoint="query_more", methods=["GET"]),
                Rule(
                    "/services/data/v<version>/sobjects/<sobject>/describe",
                    endpoint="describe",
                    methods=["GET"],
                ),
                Rule("/services/data/v<version>/sobjects", endpoint="describe_global", methods=["GET"]),
                Rule("/services/data/v<version>/limits/", endpoint="limits", methods=["GET"]),
                Rule(
                    "/services/data/v<version>/composite/sobjects", endpoint="collections",
                    methods=["PATCH", "POST"]
                ),
                Rule("/services/Soap/m/<version>/", endpoint="soap", methods=["POST"]),
            ],
            strict_slashes=False,
        )

    # --- lifecycle --------------------------------------------------------------------------------------
    def _serve(self) -> SandboxServer:
        logging.getLogger("werkzeug").setLevel(
            logging.WARNING
        )  # one access-log line per call drowns the tests
        self._ca = LocalCA()
        return SandboxServer(
            self._wsgi,
            style=SalesforceStyle(self),
            port=self.port,
            tls=self._ca,
            is_authenticated_call=lambda request: request.path.startswith(("/services/data", "/services/Soap")),
        )

    def stop(self) -> None:
        """Stop serving and remove the run's CA directory (a new `start()` makes a new CA)."""
        super().stop()
        if self._ca is not None:
            self._ca.close()

    @property
    def ca_path(self) -> str:
        assert self._ca is not None
        return str(self._ca.ca_path)

    # --- credentials ------------------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        tokens = sorted(self._sessions)
        return {
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
            **({"access_token": tokens[-1]} if tokens else {}),
        }

    def settings(self, **overrides: Any) -> SalesforceSettings:
        """Settings that read this org's seeded fields (its field maps, currency and automation user)."""
        lead_fields, contact_fields = mapping_for_settings()
        return self.default_settings(**{
            "lead_fields": dict(lead_fields),
            "contact_fields": dict(contact_fields),
            "corporate_currency": "EUR",
            "automation_user_ids": (self.seeder.automation_user,),
            **overrides,
        })

    def default_settings(self, **overrides: Any) -> SalesforceSettings:
        """The connector's default settings, with only what reaches this org (URL, credentials, trust)."""
        values: dict[str, Any] = {
            "login_url": self.base_url,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
            "ca_bundle": self.ca_path,
            "daily_limit": self.daily_limit,
            "daily_reserve": 0,
        }
        values.update(overrides)
        return SalesforceSettings(**values)

    def deny(self, *sobjects: str) -> None:
        """Take these objects out of the integration user's reach (as a profile without their Read)."""
        self.org.denied.update(sobjects)

    def allow(self, *sobjects: str) -> None:
        self.org.denied.difference_update(sobjects)

    def revoke_refresh_token(self) -> None:
        self._refresh_revoked = True

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    # --- what a person does in the org -------------------------------------------------------------------
    def _native(self, native_id: str) -> str:
        return to18(native_id)

    def set_field(self, native_id: str, name: str, value: Any) -> None:
        """Set a neutral attribute or `Contact.fields` key. A Contact's company data lives on its Account, and
        (as in Salesforce) editing the Account does not move the Contact's SystemModstamp."""
        sobject, record = self._person(native_id)
        place = neutral_to_native(sobject, name)
        if place is None:
            raise KeyError(f"the sandbox org has no field for {name!r} on {sobject}")
        kind, field = place
        if kind == "Account":
            if not record.get("AccountId"):
                record_account = self.org.insert("Account", {"Name": "(unnamed)"})
                self.org.update(sobject, record["Id"], {"AccountId": record_account})
            self.org.update("Account", record["AccountId"], {field: value})
        else:
            self.org.update(sobject, record["Id"], {field: value})

    def delete_contact(self, native_id: str) -> None:
        sobject, record = self._person(native_id)
        self.org.delete(sobject, record["Id"])

    def merge(self, winner_id: str, loser_id: str) -> None:
        """Merge two records of one object: the loser is deleted with MasterRecordId -> winner."""
        sobject, loser = self._person(loser_id)
        self.org.delete(sobject, loser["Id"], master=to18(winner_id))
        self.org.update(sobject, to18(winner_id), {})

    def empty_recycle_bin(self) -> None:
        """Deleted and merged-away records leave the recycle bin: `queryAll` no longer returns them."""
        self.org.empty_recycle_bin()

    def convert_lead(self, lead_id: str) -> str:
        """Convert a lead; returns the new Contact's id."""
        return self.seeder.convert(to18(lead_id))

    def fail_next_update(
        self,
        native_id: str,
        code: str = "UNABLE_TO_LOCK_ROW",
        message: str = "unable to obtain exclusive access to this record",
        times: int = 1,
    ) -> None:
        self.rest.record_failures.setdefault(to18(native_id), []).extend([(code, message)] * times)

    def store_raw(self, native_id: str, field: str, raw: Any) -> None:
        """Put `raw` in a field as it is, whatever the field's type: the values another implementation of the
        API, an import or a data glitch leave behind ("50-100" in a number, "next Tuesday" in a date, NUL
        bytes, a 100 KB paste), which a client meets and must survive. Moves SystemModstamp like any edit."""
        sobject, record = self._person(native_id)
        self.org.update(sobject, record["Id"], {})
        record[field] = raw

    def rekey(self, native_id: str, raw_id: str) -> None:
        """Serve the record under an id of another shape (14 characters, a 15-character one...)."""
        sobject, record = self._person(native_id)
        with self.org.lock:
            del self.org.records[sobject][record["Id"]]
            record["Id"] = raw_id
            self.org.records[sobject][raw_id] = record

    def hide_field(self, sobject: str, name: str, field_type: str = "double") -> None:
        """A field that exists in the org but that the integration user has no field-level security on."""
        if name not in self.org.schema[sobject]:
            self.org.add_custom_field(sobject, name, field_type, {"label": name})
        self.org.hidden.add((sobject, name))

    def written(self, native_id: str) -> dict[str, Any]:
        _, record = self._person(native_id)
        return {
            canonical.value: record[field]
            for canonical, field in DEFAULT_FIELD_MAP.items()
            if field in record and record[field] is not None
        }

    def record(self, native_id: str) -> dict[str, Any]:
        _, record = self._person(native_id)
        return dict(record)

    def tasks(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        """Every Task (of one Lead or Contact) as `{id, contact_id, owner_id, subject, body, due_at, done}`, the
        shape every sandbox lists its tasks in."""
        with self.org.lock:
            rows = [row for row in self.org.records["Task"].values() if not row.get("IsDeleted")
                    and (contact_id is None or row.get("WhoId") == to18(contact_id))]
            return [{"id": row["Id"], "contact_id": row.get("WhoId"), "owner_id": row.get("OwnerId"),
                     "subject": row.get("Subject"), "body": row.get("Description"), "due_at": row.get("ActivityDate"),
                     "done": bool(row.get("IsClosed"))} for row in rows]

    def set_manager(self, user_id: str, manager_id: str) -> None:
        """A User's manager (`User.ManagerId`), as an admin sets it in Setup."""
        self.org.update("User", to18(user_id), {"ManagerId": to18(manager_id)})

    @property
    def owner_ids(self) -> dict[str, str]:
        """Neutral owner id -> User id."""
        return dict(self.seeder.users)

    def _person(self, native_id: str) -> tuple[str, dict[str, Any]]:
        found = self.org.find(native_id)
        if found is None or found[0] not in ("Lead", "Contact"):
            raise KeyError(f"no Lead or Contact {native_id}")
        return found

    # --- sessions and usage -----------------------------------------------------------------------------
    def _session_ok(self, token: str) -> bool:
        with self._lock:
            issued = self._sessions.get(token)
            if issued is None:
                return False
            if self.clock.now() - issued >= self.session_timeout:
                del self._sessions[token]
                return False
            return True

    def limit_info(self) -> str:
        return f"api-usage={self._used()}/{self.daily_limit}"

    def _used(self) -> int:
        horizon = self.clock.now() - timedelta(hours=24)
        with self._lock:
            while self._usage and self._usage[0] <= horizon:
                self._usage.popleft()
            return len(self._usage)

    def _count_call(self) -> None:
        with self._lock:
            self._usage.append(self.clock.now())

    # --- WSGI -------------------------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.map.bind_to_environ(environ).match()
        except HTTPException as exc:
            status = exc.code or 404
            response = error(
                status,
                "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED",
                "The requested resource does not exist"
                if status == 404
                else f"HTTP Method '{request.method}' not allowed.",
            )
            return response(environ, start_response)
        response = self._dispatch(request, endpoint, args)
        if request.path.startswith("/services/data"):
            response.headers["Sforce-Limit-Info"] = self.limit_info()
        return response(environ, start_response)

    def _dispatch(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> Response:
        if endpoint == "token":
            return self._token(request)
        if endpoint == "soap":
            if self.enforce_limits and self._used() >= self.daily_limit:
                return soap.fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self._count_call()
            return self.metadata(request)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self._session_ok(auth[7:]):
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.enforce_limits and self._used() >= self.daily_limit:
            return error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self._count_call()
        version = args.get("version", API_VERSION)
        if endpoint == "query":
            return self.rest.query(request, version, include_deleted=False)
        if endpoint == "query_all":
            return self.rest.query(request, version, include_deleted=True)
        if endpoint == "query_more":
            return self.rest.query_more(request, version, args["cursor"])
        if endpoint == "describe":
            return self.rest.describe(args["sobject"])
        if endpoint == "describe_global":
            return self.rest.describe_global()
        if endpoint == "limits":
            return self.rest.limits(self._used(), self.daily_limit)
        if request.method == "POST":
            return self.task_inserts.collections_create(request)
        response = self.rest.collections_update(request)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return response
        saves = response.get_json(silent=True) if response.status_code == 200 else None
        if isinstance(body, dict) and isinstance(body.get("records"), list) and isinstance(saves, list):
            # only the records saved ("success": true, by position): a refused or rolled-back one changed nothing
            self.task_inserts.close_completed([record for record, save in zip(body["records"], saves)
                                               if isinstance(record, dict) and isinstance(save, dict)
                                               and save.get("success") is True])
        return response

    def _token(self, request: Request) -> Response:
        form = request.form
        grant = form.get("grant_type")
        if grant not in ("refresh_token", "client_credentials"):
            return json_response(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
                status=400,
            )
        if form.get("client_id") != self._client_id:
            return json_response(
                {"error": "invalid_client_id", "error_description": "client identifier invalid"}, status=400
            )
        secret = form.get("client_secret")
        if (grant == "client_credentials" or secret is not None) and secret != self._client_secret:
            return json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"}, status=400
            )
        if grant == "refresh_token" and (
            form.get("refresh_token") != self._refresh_token or self._refresh_revoked
        ):
            return json_response(
                {"error": "invalid_grant", "error_description": "expired access/refresh token"}, status=400
            )
        with self._lock:
            self._issued += 1
            token = (
                f"{self.org_id[:15]}!AQ"
                + hashlib.sha256(f"{self.seed_value}:{self._issued}".encode()).hexdigest()
            )
            self._sessions[token] = self.clock.now()
        if (
            self.faults.token_calls_left or 0
        ) <= 0:  # a scheduled expiry, once spent, ended the old token only
            self.faults.token_calls_left = None
        issued_at = str(int(self.clock.now().timestamp() * 1000))
        signature = base64.b64encode(hashlib.sha256(f"{token}{issued_at}".encode()).digest()).decode()
        return ok(
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"https://login.salesforce.com/id/{self.org_id}/{self.seeder.integration_user}",
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature,
                "scope": "api refresh_token",
            }
        )


__all__ = ["SalesforceSandbox", "SalesforceStyle"]
