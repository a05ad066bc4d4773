"""`OwnWrites`: tells a record that changed only by crmsync's own write from one a person or another system
changed, so the next pull need not read it back with everything related to it.

Every CRM shows a record crmsync wrote as modified, and an incremental pull finds it again. Reading it back
costs as much as the change it made (HubSpot: its associations and engagements; Salesforce: its related
rows), for nothing: what the rules read of it is what they decided from. A record is an echo of crmsync's
write when what the pull reads of it now is exactly what the pull read before the write, with the values
crmsync wrote in their place.

How: the connector remembers each page's records as pulled (`remember`, the last page only: the engine pushes
a page's decisions before it asks for the next page); when a write lands (`wrote`), the fingerprint of the
record as remembered with the written values laid over it is kept in the connector's scratch space; the next
pull asks `echoes(page)`, which compares and forgets. Safe by construction: anything other than the
expected fingerprint (a person's edit between the pull and the write, a value the CRM normalised or
recomputed) or nothing remembered (another replica, a restart, an outbox replay, a write that failed) reads
the record as before. Modification stamps stay out of the comparison (`ignored`); a field people edit too,
such as a lifecycle stage, is compared with what crmsync wrote there. Only fields the pull reads may be laid
over (crmsync's own fields are not read back, so a connector passes only the native ones). What is compared
is what the pull reads: a change no field of the record shows (HubSpot: an existing deal associated with the
contact, changing neither) is no more visible to this than to the incremental pull itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sync.spill import Scratch, ScratchMap


class OwnWrites:
    def __init__(self, scratch: Scratch, *, ignored: Iterable[str]) -> None:
        self._ignored = frozenset(ignored)
        self._page: dict[str, dict[str, Any]] = {}
        self._expected: ScratchMap[str, str] = ScratchMap(scratch, "own_writes")

    def remember(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """The page just handed to the engine: record id -> the values the pull read of it."""
        self._page = {record_id: self._compared(values) for record_id, values in records}

    def wrote(self, writes: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Writes the CRM confirmed: record id -> the values of fields the pull reads that it now holds by
        crmsync's hand (a field the pull does not read must not be passed: it would never compare equal). A
        record not on the last page is not remembered, so it is read back as before."""
        expected = [(record_id, _digest(self._compared({**self._page[record_id], **written})))
                    for record_id, written in writes if record_id in self._page]
        if expected:
            self._expected.put_many(expected)

    def echoes(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> set[str]:
        """The ids among `records` (record id -> the values the pull reads now) that read exactly as crmsync
        left them: one look-up for the page; each write is asked about once (forgotten after)."""
        records = list(records)
        expected = self._expected.get_many(record_id for record_id, _ in records)
        if not expected:
            return set()
        self._expected.discard_many(expected)
        return {record_id for record_id, values in records
                if expected.get(record_id) == _digest(self._compared(values))}

    def _compared(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """An absent value, None and "" read alike: CRMs answer an empty field any of the three ways."""
        return {name: value for name, value in values.items()
                if name not in self._ignored and value is not None and value != ""}


def _digest(values: Mapping[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


__all__ = ["OwnWrites"]
