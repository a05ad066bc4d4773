"""`PipedriveSandbox`: a local Pipedrive company for tests, benchmarks and the demo.

Uniform with the other sandboxes: start it, seed neutral contacts, hand `settings()` to the connector,
act like a CRM user (`record_event`, `log_activity`, `upsert_deal`, `set_field`, `delete_contact`) and
read back what crmsync wrote (`written`). Data lives in `pipedrive_store`, neutral-to-native seeding in
`pipedrive_seed`, the HTTP API in `pipedrive_app`; faults come from the shared harness and are rendered
in Pipedrive's own shapes by `pipedrive_errors.PipedriveStyle`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from pydantic import SecretStr
from werkzeug.wrappers import Request, Response

from connectors.pipedrive.mapping import format_rfc3339
from connectors.pipedrive.settings import (
    BURST_API_TOKEN,
    BURST_OAUTH,
    YES,
    PipedriveOAuth,
    PipedriveSettings,
    Plan,
    effective_daily_tokens,
)
from connectors.sandbox.lifecycle import SandboxOptions
from connectors.sandbox.seeding import SeededSandbox
from connectors.sandbox.pipedrive_activities import as_task
from connectors.sandbox.pipedrive_app import Credentials, PipedriveApp
from connectors.sandbox.pipedrive_errors import PipedriveStyle
from connectors.sandbox.pipedrive_limits import Limits
from connectors.sandbox.pipedrive_merge import merge_persons
from connectors.sandbox.pipedrive_seed import AUTOMATION_USER_ID, Seeder
from connectors.sandbox.pipedrive_store import PipedriveStore
from connectors.sandbox.server import SandboxServer


class PipedriveSandbox(SeededSandbox):
    """A Pipedrive company on 127.0.0.1. `plan`, `seats`, `daily_tokens` and `burst` set the limits it
    enforces when `enforce_limits` is on (defaults: the documented Lite plan for one seat)."""

    crm = "pipedrive"

    def __init__(
        self,
        *,
        plan: Plan = Plan.LITE,
        seats: int = 1,
        daily_tokens: int | None = None,
        burst: int | None = None,
        record_exchanges: bool = False,
        **options: Unpack[SandboxOptions],
    ) -> None:
        super().__init__(**options)
        seed = self.seed_value
        self.plan = plan
        self.store = PipedriveStore(self.clock, seed=seed)
        # the connector's default field names and mappings: the sandbox seeds where a default install reads
        self.seeder = Seeder(self.store, PipedriveSettings(api_token=SecretStr("sandbox-defaults-only")))
        self.credentials_ = Credentials(
            api_token=f"sandbox{seed:04d}" + "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"[:32],
            client_id=f"sandbox-client-{seed}",
            client_secret=f"sandbox-secret-{seed:04d}-9f8e7d6c",
            refresh_token=f"1:{seed}:2a5496a8bdd0f829dcb09dc8ba82b188f0ea4481",
        )
        self.limits = Limits(
            burst=burst or BURST_API_TOKEN[plan],
            oauth_burst=burst or BURST_OAUTH[plan],
            window=2.0,
            daily_tokens=daily_tokens or effective_daily_tokens(plan, seats),
            enforce=self.enforce_limits,
        )
        self._app = PipedriveApp(
            self.store,
            self.credentials_,
            self.limits,
            on_refresh=self._token_refreshed,
            record_exchanges=record_exchanges,
        )

    # -- lifecycle -------------------------------------------------------------------------------------

    def _serve(self) -> SandboxServer:
        return SandboxServer(
            self._app,
            style=PipedriveStyle(),
            port=self.port,
            is_authenticated_call=lambda request: request.path != "/oauth/token",
        )

    @property
    def exchanges(self) -> list[tuple[Request, Response]]:
        """Requests the app answered with its responses (with `record_exchanges=True`, or since `record()`)."""
        return list(self._app.exchanges or [])

    def record(self, on: bool = True) -> None:
        """Keep the exchanges answered from now on (forgetting earlier ones), or stop keeping them: what a
        benchmark counts the rows of one phase with, without holding a whole full pull's answers."""
        self._app.exchanges = [] if on else None

    def _token_refreshed(self) -> None:
        """A new access token is valid again: an injected `expire_token_after` applied to the old one."""
        if self._server is not None:
            self._server.faults.token_calls_left = None

    # -- connector side --------------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> PipedriveSettings:
        """API-token settings for this sandbox; the limits match what it enforces."""
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "api_token": SecretStr(self.credentials_.api_token),
            "plan": self.plan,
            "burst_limit": self.limits.burst,
            "daily_token_budget": self.limits.daily_tokens,
            "automation_user_ids": frozenset({AUTOMATION_USER_ID}),
            **overrides,
        }
        return PipedriveSettings(**values)

    def oauth_settings(self, **overrides: Any) -> PipedriveSettings:
        """OAuth-app settings: the connector refreshes through this sandbox's `/oauth/token`."""
        oauth = PipedriveOAuth(
            client_id=self.credentials_.client_id,
            client_secret=SecretStr(self.credentials_.client_secret),
            refresh_token=SecretStr(self.credentials_.refresh_token),
            oauth_url=self.base_url,
        )
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "oauth": oauth,
            "plan": self.plan,
            "burst_limit": self.limits.oauth_burst,
            "daily_token_budget": self.limits.daily_tokens,
            "automation_user_ids": frozenset({AUTOMATION_USER_ID}),
            **overrides,
        }
        return PipedriveSettings(**values)

    def credentials(self) -> dict[str, str]:
        issued = sorted(self.credentials_.access_tokens)
        return {
            "api_token": self.credentials_.api_token,
            "client_id": self.credentials_.client_id,
            "client_secret": self.credentials_.client_secret,
            "refresh_token": self.credentials_.refresh_token,
            **({"access_token": issued[-1]} if issued else {}),
        }

    # -- what a CRM user does --------------------------------------------------------------------------

    def _native(self, native_id: str) -> int:
        return int(native_id)

    def deal_id(self, neutral_deal_id: str) -> int:
        """The native id of a deal seeded or upserted under its neutral id."""
        return self.seeder.deal_ids[neutral_deal_id]

    def delete_deal(self, neutral_deal_id: str) -> None:
        """Delete a deal seeded or upserted under its neutral id (then listed with `status=deleted`)."""
        self.seeder.delete_deal(neutral_deal_id)

    def set_field(self, native_id: str, name: str, value: Any) -> None:
        self.seeder.set_field(int(native_id), name, value)

    def delete_contact(self, native_id: str) -> None:
        self.store.delete_person(int(native_id))

    def merge_contacts(self, loser_native_id: str, survivor_native_id: str) -> None:
        """A person merged into another, as `PUT /v1/persons/{id}/merge` does (see `pipedrive_merge`): the loser
        disappears from lists, its deals and activities move to the survivor."""
        merge_persons(self.store, int(loser_native_id), int(survivor_native_id))

    def serve(self, kind: str, native_id: str | int, **values: Any) -> None:
        """Make the API answer these values in one record (`kind`: person, deal, activity, organization)
        instead of the stored ones: what another implementation of the API or an import leaves behind (an id
        of another shape, a time that is not RFC 3339, a 100 KB name, NUL bytes). Paging is unaffected."""
        with self.store.lock:
            key = (kind, int(native_id))
            self.store.served[key] = {**self.store.served.get(key, {}), **values}

    def touch_many(self, native_ids: Iterable[str]) -> str:
        """A bulk edit: every person gets the same `update_time` now (ties at a page boundary)."""
        with self.store.lock:
            stamp = self.store.now()
            for native_id in native_ids:
                self.store.persons[int(native_id)]["update_time"] = stamp
        return stamp

    def tasks(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        """Every activity (of one person) as `{id, contact_id, owner_id, subject, body, due_at, done}`, the shape
        every sandbox lists its tasks in."""
        rows = self._app.activity_writes.listed(int(contact_id) if contact_id is not None else None)
        return [as_task(row) for row in rows]

    def person(self, native_id: str) -> dict[str, Any]:
        """The stored native record, for assertions."""
        with self.store.lock:
            return dict(self.store.persons[int(native_id)])

    def written(self, native_id: str) -> dict[str, Any]:
        """crmsync's fields as stored, keyed by canonical field, decoded (option ids to labels, Yes/No to
        booleans); fields never written or cleared are absent."""
        settings = self.seeder.settings
        out: dict[str, Any] = {}
        with self.store.lock:
            person = self.store.persons[int(native_id)]
            for canonical, spec in settings.write_fields.items():
                field = self.store.field_named(spec.name)
                if field is None or field["key"] not in person["custom_fields"]:
                    continue
                value = person["custom_fields"][field["key"]]
                if field["field_type"] == "enum":
                    label = next(option["label"] for option in field["options"] if option["id"] == value)
                    value = (label == YES) if set(spec.options) == {YES, "No"} else label
                out[str(canonical)] = value
        return out

    def labels(self, native_id: str) -> list[str]:
        """The person's label names, in stored order."""
        with self.store.lock:
            field = self.store.field_by_key("label_ids")
            names = {option["id"]: option["label"] for option in (field or {}).get("options") or []}
            return [names[label_id] for label_id in self.store.persons[int(native_id)]["label_ids"]]

    def now(self) -> str:
        return format_rfc3339(self.clock.now())
