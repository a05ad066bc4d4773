"""`SeededSandbox`: what a CRM user does to a sandbox's people, for the sandboxes whose writes go through
one seeder (Pipedrive, Salesforce).

The demo, the tests and the benchmarks act on every sandbox with the same four verbs on a native id given as
text; such a sandbox only says how that text becomes its own id (`_native`) and hands the rest to its seeder,
which writes the CRM's records as a person would (the HubSpot sandbox writes its store directly, since an
event there changes the contact record itself).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, Protocol

from connectors.sandbox.lifecycle import ServedSandbox
from sync.model import Activity, Contact, Deal, EngagementEvent


class PersonSeeder(Protocol):
    """Writes one CRM's records for neutral people; native ids are the CRM's own (an int, an 18-char id)."""

    def seed(self, contact: Contact) -> Any: ...

    def record_event(self, person: Any, event: EngagementEvent) -> Any: ...

    def log_activity(self, person: Any, activity: Activity) -> Any: ...

    def upsert_deal(self, person: Any, deal: Deal) -> Any: ...


class SeededSandbox(ServedSandbox):
    seeder: PersonSeeder

    @abstractmethod
    def _native(self, native_id: str) -> Any:
        """The CRM's own id for a native id given as text."""

    def seed(self, contacts: Iterable[Contact]) -> dict[str, str]:
        """Neutral contact id -> native id, each person seeded with its history (its own timestamps)."""
        return {contact.id: str(self.seeder.seed(contact)) for contact in contacts}

    def record_event(self, native_id: str, event: EngagementEvent) -> None:
        self.seeder.record_event(self._native(native_id), event)

    def log_activity(self, native_id: str, activity: Activity) -> None:
        self.seeder.log_activity(self._native(native_id), activity)

    def upsert_deal(self, native_id: str, deal: Deal) -> None:
        self.seeder.upsert_deal(self._native(native_id), deal)
