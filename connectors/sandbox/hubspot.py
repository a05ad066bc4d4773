"""`HubSpotSandbox`: a local HubSpot account for tests, the demo and benchmarks, behind the uniform sandbox
interface (`seed`, `settings`, `credentials`, what a person does in the CRM, `written`).

It serves the real API paths on 127.0.0.1 through the shared harness (`server.SandboxServer`: fault
plan, request log), so the connector talks to it through hubspot-api-client with only the base URL
changed. Deterministic: ids count up from fixed starts, tokens derive from the seed, every timestamp
comes from the injected clock. See `hubspot_app.py` for the endpoints and limits it emulates and
`hubspot_seed.py` for how neutral contacts become HubSpot records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Literal, Unpack

from pydantic import SecretStr

from connectors.hubspot.settings import DEFAULT_FIELD_PROPERTIES, HubSpotSettings
from connectors.sandbox import hubspot_seed as seed_map
from connectors.sandbox.hubspot_app import Credentials, Exchange, HubSpotApp
from connectors.sandbox.hubspot_limits import Limits
from connectors.sandbox.hubspot_store import BackwardLifecycle, HubSpotStore, to_ms
from connectors.sandbox.lifecycle import SandboxOptions, ServedSandbox
from connectors.sandbox.server import SandboxServer
from sync.contract import CanonicalField
from sync.model import Activity, Contact, Deal, DealStatus, EngagementEvent

PERSON = 9_001  # the HubSpot user who edits contacts by hand in `edit`


class HubSpotSandbox(ServedSandbox):
    """One HubSpot account on a local port. Use as a context manager or `start()` / `stop()`."""

    crm = "hubspot"

    def __init__(self, *, backward_lifecycle: BackwardLifecycle = "reject",
                 lifecycle_sync_on_won: bool = False, **options: Unpack[SandboxOptions]) -> None:
        """`backward_lifecycle`: what a direct backward write of `lifecyclestage` does (see `hubspot_store`).
        `lifecycle_sync_on_won`: the account's "set associated contacts to Customer when a deal is closed won"
        setting ("Deal settings" in the knowledge base); an admin may turn it off, so it is off unless asked."""
        super().__init__(**options)
        self.store = HubSpotStore(self.clock, backward_lifecycle=backward_lifecycle)
        self.lifecycle_sync_on_won = lifecycle_sync_on_won
        digest = hashlib.sha256(f"crmsync-hubspot-sandbox:{self.seed_value}".encode()).hexdigest()
        self._credentials = Credentials(private_token=f"pat-na1-{digest[:8]}-{digest[8:12]}-{digest[12:24]}",
                                        client_id=f"{digest[24:32]}-{digest[32:36]}",
                                        client_secret=digest[36:60], refresh_token=f"na1-{digest[0:36]}")
        self.limits = Limits()
        self._app: HubSpotApp | None = None
        self._deal_ids: dict[str, str] = {}
        self._contact_ids: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------

    def _serve(self) -> SandboxServer:
        app = HubSpotApp(self.store, self._credentials, enforce_limits=self.enforce_limits,
                         limits=self.limits)
        server = SandboxServer(app, style=app.style, is_authenticated_call=app.is_authenticated_call,
                               port=self.port)
        app.faults = server.faults  # a refresh ends the token expiry a test scheduled in the harness's plan
        self._app = app
        return server

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request the app itself answered, with its answer (faults injected by the harness excluded)."""
        if self._app is None:
            raise RuntimeError("start() the hubspot sandbox first")
        return list(self._app.exchanges)

    # -- configuration ---------------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        issued = self._credentials
        return {"access_token": issued.private_token, "client_id": issued.client_id,
                "client_secret": issued.client_secret,
                "refresh_token": issued.refresh_token}

    def settings(self, *, auth: Literal["private_app", "oauth"] = "private_app", **overrides: Any) -> HubSpotSettings:
        """Connector settings for this account: a private-app token by default, or OAuth (the connector
        refreshes to get its first access token)."""
        issued = self._credentials
        if auth == "oauth":
            credentials: dict[str, Any] = {"refresh_token": SecretStr(issued.refresh_token),
                                           "client_id": issued.client_id,
                                           "client_secret": SecretStr(issued.client_secret)}
        else:
            credentials = {"access_token": SecretStr(issued.private_token)}
        return HubSpotSettings(base_url=self.base_url, **credentials, **overrides)

    # -- seeding -----------------------------------------------------------------------------------------

    def seed(self, contacts: Iterable[Contact]) -> dict[str, str]:
        """Create each neutral contact with its company, deals, activities and messages, with the timestamps
        it carries (history, not changes made now)."""
        mapping: dict[str, str] = {}
        store = self.store
        for contact in contacts:
            created = seed_map.epoch_millis(contact.created_at) if contact.created_at else None
            updated = seed_map.epoch_millis(contact.updated_at) if contact.updated_at else None
            props = seed_map.contact_properties(contact)
            company = seed_map.company_properties(contact)
            if company is not None:
                props["associatedcompanyid"] = store.create("companies", company, created=created,
                                                            updated=created).id
            record = store.create("contacts", props, created=created, updated=updated)
            mapping[contact.id] = record.id
            self._contact_ids[contact.id] = record.id
            if company is not None:
                store.link("contacts", record.id, "companies", props["associatedcompanyid"])
            for deal in contact.deals:
                self._store_deal(record.id, deal, history=True)
            for activity in contact.activities:
                self._store_activity(record.id, activity, history=True)
            for event in contact.events:
                if event.type == "social_message":
                    self._store_message(record.id, event.source, event.at, None, history=True)
        return mapping

    def _store_deal(self, contact_id: str, deal: Deal, *, history: bool) -> str:
        """A deal seeded with its own timestamps (`history`), or created or changed now by a person."""
        props = seed_map.deal_properties(deal)
        native = self._deal_ids.get(deal.id)
        if native is None or self.store.get("deals", native) is None:
            created = seed_map.epoch_millis(deal.created_at) if deal.created_at and history else None
            updated = seed_map.epoch_millis(deal.updated_at) if deal.updated_at and history else None
            native = self.store.create("deals", props, created=created, updated=updated).id
            self._deal_ids[deal.id] = native
        else:
            self.store.touch("deals", native, props)
        self.store.link("contacts", contact_id, "deals", native)
        return native

    def _store_activity(self, contact_id: str, activity: Activity, *, history: bool) -> str:
        """An engagement seeded as history (created when it happened, or when it was booked), or logged now."""
        object_type, props = seed_map.activity_object(activity)
        at = seed_map.epoch_millis(activity.at)
        created = seed_map.booked_at(activity) or at
        native = (self.store.create(object_type, props, created=created, updated=max(created, at)) if history
                  else self.store.create(object_type, props, created=seed_map.booked_at(activity))).id
        self.store.link("contacts", contact_id, object_type, native)
        return native

    def _store_message(self, contact_id: str, network: str | None, at: datetime, owner: str | None, *,
                       history: bool) -> str:
        props = seed_map.message_object(network, at, owner)
        stamp = seed_map.epoch_millis(at)
        native = (self.store.create("communications", props, created=stamp, updated=stamp) if history
                  else self.store.create("communications", props)).id
        self.store.link("contacts", contact_id, "communications", native)
        return native

    # -- what a person does in HubSpot -------------------------------------------------------------------

    def record_event(self, native_id: str, event: EngagementEvent) -> None:
        """A social message is a communication logged on the contact (which does not change the contact
        record); every other event changes the contact's own summaries."""
        with self.store.lock:
            current = self._contact(native_id).properties
            if event.type == "social_message":
                self._store_message(native_id, event.source, event.at, None, history=False)
                return
            self.store.touch("contacts", native_id, seed_map.event_changes(current, event))

    def log_activity(self, native_id: str, activity: Activity) -> None:
        """An engagement logged now; the contact record itself does not change."""
        with self.store.lock:
            self._contact(native_id)
            self._store_activity(native_id, activity, history=False)

    def log_message(self, native_id: str, *, network: str, at: datetime, by: str | None) -> str:
        """A LinkedIn, SMS or WhatsApp message logged on the contact by user `by` (None: no owner)."""
        with self.store.lock:
            self._contact(native_id)
            return self._store_message(native_id, network, at, by, history=False)

    def upsert_deal(self, native_id: str, deal: Deal) -> None:
        """A deal created or changed now. The contact record changes only when the account's lifecycle sync
        is on and makes the contact a customer."""
        with self.store.lock:
            contact = self._contact(native_id)
            self._store_deal(native_id, deal, history=False)
            if (self.lifecycle_sync_on_won and deal.status is DealStatus.WON
                    and contact.properties.get("lifecyclestage") not in ("customer", "evangelist")):
                self.store.touch("contacts", native_id, {"lifecyclestage": "customer"}, source=("DEALS", None))

    def edit(self, native_id: str, properties: dict[str, str], *, by: int | None = PERSON,
             source: str = "CRM_UI") -> None:
        """A person (user `by`) edits properties of the contact by hand in HubSpot (its native values:
        lifecyclestage, hs_lead_status...), which the forward-only rule does not bind; `by=None` with another
        `source` ("FORM", "IMPORT", "AUTOMATION_PLATFORM"...) is a change no person made."""
        with self.store.lock:
            self._contact(native_id)
            self.store.touch("contacts", native_id, properties, source=(source, by))

    def set_field(self, native_id: str, name: str, value: Any) -> None:
        prop, stored = seed_map.attribute_property(name, value)
        with self.store.lock:
            self._contact(native_id)
            self.store.touch("contacts", native_id, {prop: stored})

    def delete_contact(self, native_id: str) -> None:
        with self.store.lock:
            self._contact(native_id)
            self.store.archive("contacts", native_id)

    def merge_contacts(self, primary: str, secondary: str) -> None:
        """HubSpot's merge: `secondary` disappears, `primary` lists it in `hs_merged_object_ids`."""
        with self.store.lock:
            self._contact(primary)
            self._contact(secondary)
            self.store.merge(primary, secondary)

    def native(self, native_id: str) -> dict[str, str]:
        """Every property of a contact as HubSpot stores it (HubSpot-specific checks: lifecycle, lead status)."""
        return dict(self._contact(native_id, archived=None).properties)

    def tasks(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        """Every task of the account (of one contact) as `{id, contact_id, owner_id, subject, body, due_at,
        done}`, the shape every sandbox lists its tasks in: what a test checks the reminders against."""
        with self.store.lock:
            found = []
            for record in self.store.live("tasks"):
                contacts = self.store.linked("tasks", record.id, "contacts")
                if contact_id is not None and contact_id not in contacts:
                    continue
                props = record.properties
                due = props.get("hs_timestamp")
                found.append({"id": record.id, "contact_id": contacts[0] if contacts else None,
                              "owner_id": props.get("hubspot_owner_id"), "subject": props.get("hs_task_subject"),
                              "body": props.get("hs_task_body"),
                              "due_at": datetime.fromtimestamp(to_ms(due) / 1000, timezone.utc) if due else None,
                              "done": props.get("hs_task_status") == "COMPLETED"})
            return found

    def written(self, native_id: str) -> dict[str, Any]:
        """crmsync's properties as stored, keyed by canonical field, typed by their definitions."""
        props = self._contact(native_id, archived=None).properties
        result: dict[str, Any] = {}
        for canonical in CanonicalField:
            name = DEFAULT_FIELD_PROPERTIES[canonical]
            raw = props.get(name)
            kind = self.store.properties.get(name, {}).get("type")
            result[canonical.value] = _typed(raw, kind)
        return result

    def _contact(self, native_id: str, archived: bool | None = False) -> Any:
        record = self.store.objects["contacts"].get(native_id)
        if record is None or (archived is not None and (record.archived_at is not None) != archived):
            raise KeyError(f"no {'archived ' if archived else ''}contact {native_id} in the HubSpot sandbox")
        return record


def _typed(raw: str | None, kind: str | None) -> Any:
    if raw is None or raw == "":
        return None
    if kind == "number":
        value = float(raw)
        return int(value) if value.is_integer() else value
    if kind == "bool":
        return raw == "true"
    if kind in ("datetime", "date"):
        return datetime.fromtimestamp(to_ms(raw) / 1000, tz=timezone.utc)
    return raw
