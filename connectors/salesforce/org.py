"""What the org offers the integration user, asked through describe once per refresh, and the optional
sources switched off, each with one warning.

An org can lack any custom field and deny any object: a stock org has none of the qualification fields
the default mapping reads nor the opportunities' contract term, and CampaignMember needs Read on Campaigns
that an integration profile often lacks. A query naming one of them fails whole (INVALID_FIELD,
INVALID_TYPE), and with it the account's every cycle. So before the first query the connector asks:

- Describe Global ("Get a List of Objects", REST API Developer Guide) lists the objects the logged-in user
  can use: one call tells which of Task, Event, CampaignMember, OpportunityContactRole and Opportunity are
  there;
- describe of Lead, Contact, Opportunity and Task tells their fields (a field without field-level security
  is absent from it, as if it did not exist).

Each object is described at most once per refresh (`describe_every_s`, an hour by default, so at most once
per run), and after crmsync created fields, those objects once more. A source found missing is switched off
with one `SetupWarning` saying what is lost and how to enable it, kept in `warnings` until a refresh finds
the source back: the engine logs it once as a WARNING and `crmsync status` lists it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from sync.clock import Clock
from sync.contract import SetupWarning
from sync.errors import AuthFailed, PermanentError

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import CRM

log = structlog.get_logger("crmsync.salesforce")


@dataclass(frozen=True, slots=True)
class Described:
    """One object's describe, as much of it as the connector reads."""

    name: str
    fields: Mapping[str, Mapping[str, Any]]  # field name -> describe's field entry
    relations: Mapping[str, str]  # relationship name (Account) -> its reference field (AccountId)

    def has(self, path: str) -> bool:
        """A field, or a relationship path whose first hop exists (the parent's fields are not described:
        a missing one there is found by the first query, as before)."""
        if "." in path:
            return path.split(".", 1)[0] in self.relations
        return path in self.fields

    def type_of(self, path: str) -> str | None:
        field = self.fields.get(path)
        return str(field.get("type")) if field is not None else None


class OrgSchema:
    """The objects and fields one org shows the integration user, cached for `ttl`."""

    def __init__(self, client: SalesforceClient, clock: Clock, *, account: str, ttl: timedelta) -> None:
        self.client = client
        self.clock = clock
        self.account = account
        self.ttl = ttl
        self._objects: frozenset[str] | None = None
        self._described: dict[str, Described | None] = {}
        self._asked_at: datetime | None = None
        self._warnings: dict[str, SetupWarning] = {}

    def refresh_if_stale(self) -> None:
        """Forget what describe said once it is older than the ttl: the next question asks again."""
        now = self.clock.now()
        if self._asked_at is not None and now - self._asked_at >= self.ttl:
            self._objects, self._described, self._asked_at = None, {}, None

    def objects(self) -> frozenset[str]:
        """The objects the integration user can use (Describe Global)."""
        if self._objects is None:
            self._stamp()
            body = self.client.call("setup", lambda api: api.describe())
            listed = body.get("sobjects", []) if isinstance(body, Mapping) else []
            self._objects = frozenset(str(item["name"]) for item in listed
                                      if isinstance(item, Mapping) and item.get("name") and item.get("queryable",
                                                                                                      True))
        return self._objects

    def describe(self, sobject: str) -> Described | None:
        """The object's fields, or None when the integration user cannot use the object."""
        if sobject not in self._described:
            if sobject not in self.objects():
                self._described[sobject] = None
            else:
                self._stamp()
                try:
                    body = self.client.call("setup", lambda api: getattr(api, sobject).describe())
                except (PermanentError, AuthFailed) as exc:
                    if exc.status not in (403, 404):  # out of reach after all: as if not listed
                        raise
                    body = None
                self._described[sobject] = _described(sobject, body) if body is not None else None
        return self._described[sobject]

    def require(self, sobject: str) -> Described:
        """An object crmsync cannot work without (Lead, Contact)."""
        described = self.describe(sobject)
        if described is None:
            raise PermanentError(f"the Salesforce integration user cannot read {sobject}: grant Read on "
                                 f"{sobject} to its profile or a permission set", crm=CRM)
        return described

    def forget(self, *sobjects: str) -> None:
        """Describe these again when next asked (crmsync just created fields on them)."""
        for sobject in sobjects:
            self._described.pop(sobject, None)

    def _stamp(self) -> None:
        if self._asked_at is None:
            self._asked_at = self.clock.now()

    # --- warnings ---------------------------------------------------------------------------------------
    def warn(self, source: str, lost: str, enable: str) -> None:
        """Record that `source` is switched off; logged the first time only."""
        warning = SetupWarning(source, lost, enable)
        if self._warnings.get(source) != warning:
            self._warnings[source] = warning
            # the engine logs each new warning once as a WARNING and keeps it for `crmsync status`
            log.debug("salesforce_source_disabled", crm=CRM, account=self.account, source=source, lost=lost,
                      enable=enable)

    def clear(self, source: str) -> None:
        """`source` is there again (an admin enabled it)."""
        if self._warnings.pop(source, None) is not None:
            log.info("salesforce_source_enabled", crm=CRM, account=self.account, source=source)

    @property
    def warnings(self) -> list[SetupWarning]:
        return sorted(self._warnings.values(), key=lambda warning: warning.what)


def _described(sobject: str, body: Any) -> Described:
    entries = body.get("fields", []) if isinstance(body, Mapping) else []
    fields = {str(field["name"]): field for field in entries if isinstance(field, Mapping) and field.get("name")}
    relations = {str(field["relationshipName"]): name for name, field in fields.items()
                 if field.get("relationshipName")}
    return Described(sobject, fields, relations)
