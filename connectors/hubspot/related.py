"""Reading the records around contacts: associations between object types, and deals, engagements and
companies by id, in HubSpot's batches.

Every record is addressed by (object type, id) ("CRM API | Objects": ids are per type, a call and a
meeting may share one), so everything here is keyed by type first: links are read per (from type, to type),
records per type, and an activity's id carries its type (`activities.activity_id`).

Calls: associations through v4 batch reads ("Associations v4", `POST /crm/v4/associations/{from}/{to}/
batch/read`, up to 1,000 inputs, each input's own `after` followed for more than a page); records through
batch reads (`POST /crm/v3/objects/{type}/batch/read`, up to 100 inputs; a 207 lists ids deleted meanwhile,
which are simply gone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import hubspot.crm.associations.v4 as assoc_sdk
import hubspot.crm.objects as objects_sdk

from connectors.hubspot import mapping
from connectors.hubspot.activities import SINGULAR, Engagement, engagement_properties, to_engagement
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.settings import HubSpotSettings
from sync.contract import RecordProblem
from sync.model import Deal, DealStatus
from sync.toolkit.paging import PagingLoop
from sync.toolkit.reading import RecordReader, read_record, shown_id

_OBJECTS_CFG = objects_sdk.Configuration()
_ASSOC_CFG = assoc_sdk.Configuration()
Links = dict[str, list[str]]  # from id -> to ids, for one (from type, to type)
HISTORY_BATCH_MAX = 50


def next_after(data: Mapping[str, Any]) -> str | None:
    after = ((data.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def category_of(object_type: str) -> str:
    """The `api_calls` category of reads of this object type."""
    return {"contacts": "contacts", "deals": "deals", "companies": "companies"}.get(object_type, "activities")


class RelatedReader:
    """The reads around one account's contacts."""

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings,
                 outcomes: Callable[[], Mapping[str, DealStatus]]) -> None:
        self.client = client
        self.settings = settings
        self._outcomes = outcomes

    def links(self, from_type: str, to_type: str, ids: Sequence[str]) -> Links:
        """`from_type` record id -> its `to_type` ids, in the order HubSpot lists them."""
        links: Links = {object_id: [] for object_id in ids}
        pending: list[tuple[str, str | None]] = [(object_id, None) for object_id in dict.fromkeys(ids)]
        followed: set[tuple[str, str]] = set()
        size = self.settings.association_batch_size
        while pending:
            batch, pending = pending[:size], pending[size:]
            inputs = [assoc_sdk.PublicFetchAssociationsBatchRequest(id=object_id, after=after,
                                                                    local_vars_configuration=_ASSOC_CFG)
                      for object_id, after in batch]
            request = assoc_sdk.BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs,
                                                                              local_vars_configuration=_ASSOC_CFG)
            data = self.client.read_associations(from_type, to_type, request).data or {}
            for result in data.get("results") or []:
                source = str((result.get("from") or {}).get("id"))
                links.setdefault(source, []).extend(str(target.get("toObjectId")) for target in result.get("to") or []
                                                    if mapping.RECORD_ID.match(str(target.get("toObjectId"))))
                after = next_after(result)
                if after is not None:
                    if (source, after) in followed:
                        raise PagingLoop(mapping.CRM, "hubspot association read: the same page token came back")
                    followed.add((source, after))
                    pending.append((source, after))
            # errors[] here are NO_ASSOCIATIONS_FOUND for records without any: that is an empty list
        return {object_id: list(dict.fromkeys(targets)) for object_id, targets in links.items()}

    def batch_read(self, object_type: str, ids: Iterable[str], properties: list[str], *,
                   history: list[str] | None = None) -> list[dict[str, Any]]:
        """The records, 100 a call, or 50 with the `history` of some properties ("CRM API | Objects", batch
        read: "The maximum number of inputs supported in a batch request for property histories is 50")."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(ids))
        size = min(self.settings.object_batch_size, HISTORY_BATCH_MAX) if history else self.settings.object_batch_size
        for offset in range(0, len(unique), size):
            inputs = [objects_sdk.SimplePublicObjectId(id=object_id, local_vars_configuration=_OBJECTS_CFG)
                      for object_id in unique[offset:offset + size]]
            request = objects_sdk.BatchReadInputSimplePublicObjectId(
                inputs=inputs, properties=properties, properties_with_history=history or [],
                local_vars_configuration=_OBJECTS_CFG)
            data = self.client.batch_read(category_of(object_type), object_type, request).data or {}
            found.extend(data.get("results") or [])
        return found

    def deals(self, links: Links, problems: list[RecordProblem]) -> dict[str, Deal]:
        ids = [deal_id for targets in links.values() for deal_id in targets]
        if not ids:
            return {}
        outcomes = self._outcomes()
        deals: dict[str, Deal] = {}
        for record in self.batch_read("deals", ids, mapping.deal_properties(self.settings)):
            deal_id = checked_id(record, "deal", problems)
            if deal_id is None:
                continue
            reader = RecordReader(deal_id, "deal")
            deal = read_record(deal_id, "deal", problems,
                               partial(mapping.to_deal, record, reader, outcomes, self.settings))
            problems.extend(reader.problems)
            if deal is not None:
                deals[deal_id] = deal
        return deals

    def engagements(self, object_type: str, links: Links, problems: list[RecordProblem]) -> dict[str, Engagement]:
        """Engagement id (of this type) -> what it is."""
        ids = [engagement_id for targets in links.values() for engagement_id in targets]
        if not ids:
            return {}
        kind = SINGULAR[object_type]
        found: dict[str, Engagement] = {}
        for record in self.batch_read(object_type, ids, engagement_properties(object_type)):
            engagement_id = checked_id(record, kind, problems)
            if engagement_id is None:
                continue
            reader = RecordReader(engagement_id, kind)
            engagement = read_record(engagement_id, kind, problems,
                                     partial(to_engagement, object_type, record, reader, self.settings))
            problems.extend(reader.problems)
            if engagement is not None:
                found[engagement_id] = engagement
        return found

    def companies(self, ids: Iterable[str], problems: list[RecordProblem]) -> dict[str, dict[str, Any]]:
        """Company id -> its properties, for the profile attributes read from the primary company."""
        wanted = sorted(set(mapping.company_properties(self.settings).values()))
        unique = [company_id for company_id in dict.fromkeys(ids) if mapping.RECORD_ID.match(company_id)]
        if not wanted or not unique:
            return {}
        found = {}
        for record in self.batch_read("companies", unique, wanted):
            company_id = checked_id(record, "company", problems)
            if company_id is not None:
                found[company_id] = record.get("properties") or {}
        return found


def checked_id(record: Mapping[str, Any], object_type: str, problems: list[RecordProblem]) -> str | None:
    found = mapping.record_id(record)
    if found is None:
        problems.append(RecordProblem(shown_id(record.get("id")), "id", "not a HubSpot record id: record skipped",
                                      object_type))
    return found

