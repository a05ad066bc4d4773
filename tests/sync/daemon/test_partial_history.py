"""Connectors that can only list the deals and activities changed since their cursor (Pipedrive) mark their
pages `related_complete=False`; the cycle must then decide on the whole history, not on the page's slice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import msgspec

from sync.contract import PullPage
from sync.model import Stage
from sync.testing import won_deal


class ChangedOnlyConnector:
    """Wraps the fake connector and, like Pipedrive's incremental pull, drops every deal from its pages."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.crm, self.account, self.batch_size = inner.crm, inner.account, inner.batch_size
        self.api_calls = inner.api_calls

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        for page in self.inner.pull(cursor):
            stripped = [msgspec.structs.replace(c, deals=[]) for c in page.contacts]
            yield replace(page, contacts=stripped, related_complete=cursor is None)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_client_stays_a_client_when_the_page_omits_its_unchanged_won_deal(world):
    native = world.ids[next(iter(world.ids))]
    world.sandbox.upsert_deal(native, won_deal("d-won", at=world.clock.now() - timedelta(days=3)))
    world.cycle()
    assert world.sandbox.written(native)["stage"] == Stage.CLIENT.value

    # the contact changes for another reason; the CRM's incremental page carries none of its deals
    world.clock.advance(timedelta(hours=1))
    world.sandbox.record_event(native, "visit")
    world.connector = ChangedOnlyConnector(world.connector)
    summary = world.cycle()
    assert summary.pulled >= 1
    assert world.sandbox.written(native)["stage"] == Stage.CLIENT.value
