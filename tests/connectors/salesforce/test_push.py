"""Push through sObject Collections against the sandbox: batch maxima, per-record failures matched by
position, retryable failures resent alone, nothing sent when nothing changes, idempotence."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts


@pytest.fixture
def ready(sandbox, connector, clock):
    ids = sandbox.seed(synthetic_contacts(250, seed=11, now=clock.now()))
    assert not connector.ensure_fields().problems
    return list(ids.values())


def collection_calls(sandbox):
    return [r for r in sandbox.requests.all() if r.path.endswith("/composite/sobjects")]


def test_push_respects_the_200_record_maximum_and_mixes_leads_and_contacts(sandbox, connector, ready):
    updates = [
        FieldUpdate(i, {"score": n % 100, "stage": "prospect", "maturity": "warm"})
        for n, i in enumerate(ready)
    ]
    results = connector.push(updates)
    assert [r.contact_id for r in results] == ready and all(r.ok for r in results)
    calls = collection_calls(sandbox)
    assert [len(c.json()["records"]) for c in calls] == [200, 50]
    assert connector.api_calls["push"] == 2
    assert connector.api_calls["push_read"] == 1  # the Leads' Rating, unknown to the engine: one read
    lead = next(i for i in ready if i.startswith("00Q"))
    stored = sandbox.record(lead)
    assert stored["Rating"] == "Warm" and stored["Crmsync_Stage__c"] == "prospect"
    assert sandbox.written(ready[7]) == {
        "score": 7,
        "stage": "prospect",
        "maturity": "warm",
        "sla_breached": False,
    }


def test_leads_and_contacts_share_each_call_in_two_chunks(sandbox, connector, ready):
    mixed = sorted(ready, key=lambda native: native[-4:])  # Leads and Contacts interleaved
    assert connector.push([FieldUpdate(native, {"score": 1}) for native in mixed])
    for call in collection_calls(sandbox):
        types = [record["attributes"]["type"] for record in call.json()["records"]]
        runs = sum(1 for index, kind in enumerate(types) if index == 0 or kind != types[index - 1])
        assert runs <= 2 and types == sorted(types, key=lambda kind: kind != "Lead")
    assert {r["attributes"]["type"] for c in collection_calls(sandbox) for r in c.json()["records"]} == {
        "Lead", "Contact"}


def test_nothing_to_write_costs_no_call(sandbox, connector, ready):
    before = len(sandbox.requests.all())
    assert connector.push([]) == []
    results = connector.push([FieldUpdate(ready[0], {})])
    assert results[0].ok and results[0].written == {}
    assert len(sandbox.requests.all()) == before and connector.api_calls["push"] == 0


def test_partial_failure_is_reported_per_record_by_position(sandbox, connector, ready):
    gone, locked, invalid = ready[3], ready[5], ready[8]
    sandbox.delete_contact(gone)
    sandbox.fail_next_update(locked)  # UNABLE_TO_LOCK_ROW once: resent alone, then fine
    sandbox.fail_next_update(invalid, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Score must be set by sales ops")
    updates = [FieldUpdate(i, {"score": 50}) for i in ready[:10]]
    results = connector.push(updates)
    assert [r.contact_id for r in results] == ready[:10]
    failed = {r.contact_id: r.error for r in results if not r.ok}
    assert set(failed) == {gone, invalid}
    assert failed[gone].code == "ENTITY_IS_DELETED" and not failed[gone].retryable
    assert failed[invalid].code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    sizes = [len(c.json()["records"]) for c in collection_calls(sandbox)]
    assert sizes == [10, 1]  # the batch is not resent whole: only the locked record goes again
    assert sandbox.written(locked)["score"] == 50


def test_values_are_converted_to_salesforce_types(sandbox, connector, ready):
    due = datetime(2026, 11, 3, 17, 30, tzinfo=timezone.utc)
    result = connector.push(
        [FieldUpdate(ready[1], {"sla_due_at": due, "sla_breached": True, "reason": "x" * 400, "score": 71.6})]
    )[0]
    assert result.ok
    body = collection_calls(sandbox)[-1].json()["records"][0]
    assert body["Crmsync_SLA_Due__c"] == "2026-11-03T17:30:00.000+0000"
    assert body["Crmsync_SLA_Breached__c"] is True and body["Crmsync_Score__c"] == 72
    assert len(body["Crmsync_Reason__c"]) == 255
    assert sandbox.written(ready[1])["sla_due_at"] == due


def test_bad_ids_and_values_fail_locally(sandbox, connector, ready):
    results = connector.push(
        [
            FieldUpdate("not-an-id", {"score": 1}),
            FieldUpdate(ready[0], {"score": "high"}),
            FieldUpdate("0068d0000000001AAA", {"score": 1}),
        ]
    )
    assert [r.error.code for r in results] == ["MALFORMED_ID", "INVALID_VALUE", "INVALID_TYPE"]
    assert collection_calls(sandbox) == []


values = st.fixed_dictionaries(
    {},
    optional={
        "score": st.integers(0, 100),
        "stage": st.sampled_from(["lead", "prospect", "client", "nurture"]),
        "maturity": st.sampled_from(["hot", "warm", "cold", None]),
        "sla_breached": st.booleans(),
        "reason": st.text(max_size=300),
    },
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(st.integers(0, 249), values), min_size=1, max_size=8))
def test_pushing_the_same_updates_twice_leaves_the_same_state(sandbox, connector, ready, batch):
    updates = [FieldUpdate(ready[i], v) for i, v in batch]
    first = connector.push(updates)
    state = {ready[i]: sandbox.written(ready[i]) for i, _ in batch}
    second = connector.push(updates)
    assert [r.ok for r in first] == [r.ok for r in second]
    assert {ready[i]: sandbox.written(ready[i]) for i, _ in batch} == state
