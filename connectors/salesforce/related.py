"""The records related to Leads and Contacts (Tasks, Events, campaign responses, opportunity roles), read one
object at a time rather than per page of parents, and kept on disk until their parents' page is mapped.

Why per object: read by lists of parent ids, every page of 2,000 parents cost each related object several
queries (an id list is cut to the URL limit, about 600 ids), however few rows came back: 1.44 times the
calls the rows needed. Read per object, the rows fill 2,000-row pages, the floor:

- a pull from nothing reads every row of each object once (`everything`: `Task WHERE WhoId != null`...),
  before the first page of parents;
- an incremental pull (or one resumed) reads, for a stream with changed parents, the rows of the parents in
  its window with a semi-join on the window itself (`window`: `WhoId IN (SELECT Id FROM Lead WHERE
  SystemModstamp >= T)`), once, when the stream's first page holds a parent to map. A stream with nothing
  changed costs nothing. The subqueries are what the SOQL reference allows: Lead, Contact as the inner
  object of a semi-join on Task, Event, CampaignMember or OpportunityContactRole (Task and Event may not be
  the inner object, and two semi-joins cannot be joined by OR, so each parent object has its own query);
- the few parents brought back because only a related record changed are read by id, with their related
  records (`of_ids`), as their ids are known only then.

The rows wait in a `sync.spill.Scratch` file as the neutral activities, events and deals they map to, by
parent id: the pull reads back one page of parents' worth at a time, so memory does not grow with the org.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from sync.contract import RecordProblem
from sync.model import Activity, Deal, EngagementEvent
from sync.spill import Scratch, ScratchBuckets

from connectors.salesforce.paging import in_list

TASK_COLUMNS = ("Id", "WhoId", "OwnerId", "Subject", "TaskSubtype", "CallType", "IsClosed", "ActivityDate",
                "CompletedDateTime", "CreatedDate")
TASK_OPTIONAL = frozenset({"TaskSubtype", "CallType", "CompletedDateTime"})  # not in every org or edition
EVENT_COLUMNS = ("Id", "WhoId", "OwnerId", "Subject", "ActivityDateTime", "ActivityDate", "CreatedDate")
MEMBER_COLUMNS = ("Id", "LeadId", "ContactId", "HasResponded", "FirstRespondedDate", "CreatedDate",
                  "Campaign.Type", "Campaign.Name")
ROLE_COLUMNS = ("Id", "ContactId", "OpportunityId", *(f"Opportunity.{field}" for field in (
    "Id", "StageName", "IsWon", "IsClosed", "Amount", "CloseDate", "CreatedDate", "LastModifiedDate")))


@dataclass(frozen=True, slots=True)
class RelatedSource:
    """One related object as the pull reads it: its columns, the field pointing at each parent object it
    relates to, and the filter every read of it carries."""

    sobject: str
    columns: tuple[str, ...]
    parent_fields: tuple[tuple[str, str], ...]  # (parent object, reference field), preferred first
    category: str  # what the gateway counts its calls under
    condition: str | None = None  # always applied (only responded campaign members)

    def relates_to(self, parent: str) -> bool:
        return any(sobject == parent for sobject, _ in self.parent_fields)

    def reference(self, parent: str) -> str:
        return next(field for sobject, field in self.parent_fields if sobject == parent)

    def everything(self) -> str:
        """Every row that points at a Lead or a Contact (a campaign member always does)."""
        reference_fields = list(dict.fromkeys(field for _, field in self.parent_fields))
        points = f"{reference_fields[0]} != null" if len(reference_fields) == 1 else None
        return self._select([points, self.condition])

    def window(self, parent: str, parent_where: str | None) -> str:
        """The rows of the `parent` records `parent_where` selects (a semi-join: one query, any count)."""
        inner = f"SELECT Id FROM {parent}" + (f" WHERE {parent_where}" if parent_where else "")
        return self._select([f"{self.reference(parent)} IN ({inner})", self.condition])

    def of_ids(self, parent: str, ids: Sequence[str]) -> str:
        return self._select([f"{self.reference(parent)} IN ({in_list(ids)})", self.condition])

    def _select(self, conditions: Iterable[str | None]) -> str:
        where = " AND ".join(condition for condition in conditions if condition)
        return f"SELECT {', '.join(self.columns)} FROM {self.sobject}" + (f" WHERE {where}" if where else "")


ACTIVITY, EVENT, DEAL, PROBLEM = "a", "e", "d", "p"
_FLUSH_EVERY = 1000
_encode = msgspec.msgpack.Encoder().encode
_decode_activity = msgspec.msgpack.Decoder(Activity).decode
_decode_event = msgspec.msgpack.Decoder(EngagementEvent).decode
_decode_deal = msgspec.msgpack.Decoder(Deal).decode
_decode_problem = msgspec.msgpack.Decoder(tuple[str, str | None, str, str]).decode


@dataclass
class Related:
    """One parent's related records, as read back from the store."""

    activities: list[Activity]
    events: list[EngagementEvent]
    deals: list[Deal]
    problems: list[RecordProblem]


class RelatedStore:
    """Related records by parent id, on disk, for one pull. One pull, one thread."""

    def __init__(self, scratch: Scratch) -> None:
        self._rows: ScratchBuckets[str] = ScratchBuckets(scratch, "related", flush_every=_FLUSH_EVERY)
        self.orphans: list[RecordProblem] = []  # rows whose parent id could not be read: on the next page

    def add_activity(self, parent: str, activity: Activity) -> None:
        self._add(parent, ACTIVITY, _encode(activity))

    def add_event(self, parent: str, event: EngagementEvent) -> None:
        self._add(parent, EVENT, _encode(event))

    def add_deal(self, parent: str, deal: Deal) -> None:
        self._add(parent, DEAL, _encode(deal))

    def add_problem(self, parent: str, problem: RecordProblem) -> None:
        self._add(parent, PROBLEM, _encode((problem.record_id, problem.field, problem.reason, problem.object_type)))

    def _add(self, parent: str, kind: str, body: bytes) -> None:
        self._rows.add(parent, kind, body)

    def flush(self) -> None:
        self._rows.flush()

    def discard(self, parents: Sequence[str]) -> None:
        """Forget what is held for these parents (their related records are about to be read again)."""
        self.take(parents)

    def take(self, parents: Sequence[str]) -> dict[str, Related]:
        """The related records of these parents (one page of them), removed from the store: a parent is
        mapped once a pull."""
        found: dict[str, Related] = {parent: Related([], [], [], []) for parent in parents}
        for parent, kind, body in self._rows.read(parents, remove=True):
            bucket = found[parent]
            if kind == ACTIVITY:
                bucket.activities.append(_decode_activity(body))
            elif kind == EVENT:
                bucket.events.append(_decode_event(body))
            elif kind == DEAL:
                deal = _decode_deal(body)
                if all(known.id != deal.id for known in bucket.deals):  # two roles on one opportunity
                    bucket.deals.append(deal)
            else:
                bucket.problems.append(RecordProblem(*_decode_problem(body)))
        return found
