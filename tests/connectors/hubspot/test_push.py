"""Pushing through the real SDK: batch maxima, per-record failures (207 and split 400s) reported with
HubSpot's category and never its message, zero-call no-ops, idempotence, and field creation. The native
fields (lifecycle stage, lead status) are `test_ownership.py`'s."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sandbox.hubspot import HubSpotSandbox
from sync.clock import FrozenClock
from sync.contract import CanonicalField, FieldUpdate
from sync.synthetic import synthetic_contacts


def prepared(sandbox, make_connector, count: int, **overrides):
    ids = list(sandbox.seed(synthetic_contacts(count)).values())
    connector = make_connector(**overrides)
    connector.ensure_fields()
    sandbox.requests.clear()
    connector.api_calls.clear()
    return ids, connector


def test_nothing_to_push_costs_no_call(sandbox, make_connector):
    ids, connector = prepared(sandbox, make_connector, 3)
    assert connector.push([]) == []
    unchanged = [FieldUpdate(i, {"score": 40}, previous={"score": 40}) for i in ids]
    results = connector.push(unchanged)
    assert [r.ok for r in results] == [True] * 3 and results[0].written == {"score": 40}
    assert sandbox.requests.all() == [] and sum(connector.api_calls.values()) == 0


def test_batches_respect_the_maximum_and_write_typed_values(sandbox, make_connector, sent_bodies):
    ids, connector = prepared(sandbox, make_connector, 250)
    due = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
    results = connector.push([FieldUpdate(i, {"score": 71, "sla_breached": True, "sla_due_at": due,
                                              "reason": "demo request (+30)"}) for i in ids])
    assert all(r.ok for r in results) and [r.contact_id for r in results] == ids
    assert [len(b["inputs"]) for b in sent_bodies("/contacts/batch/update")] == [100, 100, 50]
    assert connector.api_calls["push"] == 3
    first = sent_bodies("/contacts/batch/update")[0]["inputs"][0]["properties"]
    assert first == {"crmsync_score": "71", "crmsync_sla_breached": "true",
                     "crmsync_sla_due_at": str(int(due.timestamp() * 1000)), "crmsync_reason": "demo request (+30)"}
    assert sandbox.written(ids[0])["sla_due_at"] == due and sandbox.written(ids[0])["score"] == 71


def test_a_207_fails_only_its_records_and_nothing_is_resent(sandbox, make_connector, sent_bodies):
    ids, connector = prepared(sandbox, make_connector, 5)
    sandbox.delete_contact(ids[1])
    results = connector.push([FieldUpdate(i, {"score": 10}) for i in ids])
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert results[1].error.code == "OBJECT_NOT_FOUND" and not results[1].error.retryable
    assert "OBJECT_NOT_FOUND" in results[1].error.message
    assert len(sent_bodies("/contacts/batch/update")) == 1
    assert sandbox.written(ids[0])["score"] == 10


def test_a_rejected_batch_is_split_to_isolate_the_bad_record(sandbox, make_connector, sent_bodies):
    ids, connector = prepared(sandbox, make_connector, 8)
    updates = [FieldUpdate(i, {"maturity": "warm"}) for i in ids]
    updates[5] = FieldUpdate(ids[5], {"maturity": "lukewarm"})  # not an option of crmsync_maturity
    results = connector.push(updates)
    assert [r.ok for r in results] == [True] * 5 + [False] + [True] * 2
    assert results[5].error.code == "INVALID_OPTION" and results[5].error.fields == ("maturity",)
    assert "lukewarm" not in results[5].error.message  # HubSpot's message quotes the value: never passed on
    sizes = [len(b["inputs"]) for b in sent_bodies("/contacts/batch/update")]
    assert sizes[0] == 8 and sizes.count(8) == 1  # the whole batch is never resent
    assert sum(1 for s in sizes if s == 1) <= 2
    assert all(sandbox.written(i)["maturity"] == "warm" for n, i in enumerate(ids) if n != 5)


def test_a_missing_property_fails_the_batch_without_splitting_it(sandbox, make_connector):
    ids = list(sandbox.seed(synthetic_contacts(6)).values())
    connector = make_connector()  # ensure_fields never ran: crmsync's properties do not exist
    results = connector.push([FieldUpdate(i, {"score": 5}) for i in ids])
    assert {r.error.code for r in results} == {"PROPERTY_DOESNT_EXIST"}
    assert sandbox.requests.count("POST", "/crm/v3/objects/contacts/batch/update") == 1


def test_ensure_fields_creates_once_and_tolerates_a_concurrent_creator(sandbox, make_connector, sent_bodies):
    connector = make_connector()
    report = connector.ensure_fields()
    assert "crmsync_score" in report.created and "group crmsync" in report.created and not report.problems
    # groups read and created, definitions read, every property in one batch create: 4 calls
    assert connector.api_calls["setup"] == 4 and len(sent_bodies("/properties/contacts/batch/create")) == 1
    assert sandbox.store.properties["crmsync_sla_breached"]["type"] == "bool"
    assert {o["value"] for o in sandbox.store.properties["crmsync_stage"]["options"]} == {
        "lead", "prospect", "client", "nurture", "disqualified"}
    again = connector.ensure_fields()
    assert again.created == [] and "crmsync_score" in again.existing
    del sandbox.store.properties["crmsync_reason"]
    real = connector.client.contact_properties

    def racing() -> dict:
        answer = real()  # another worker creates the property between our read and our create
        sandbox.store.create_property({"name": "crmsync_reason", "label": "x", "type": "string",
                                       "fieldType": "textarea", "groupName": "crmsync"})
        return answer

    connector.client.contact_properties = racing
    third = connector.ensure_fields()
    assert "crmsync_reason" in third.existing and third.created == [] and not third.problems


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({}, optional={
    "score": st.integers(0, 100), "maturity": st.sampled_from(["cold", "warm", "hot"]),
    "sla_breached": st.booleans(), "reason": st.text(max_size=30),
    "stage": st.sampled_from(["lead", "prospect", "client", "nurture", "disqualified"])}), min_size=1, max_size=4))
def test_pushing_the_same_updates_twice_leaves_the_same_state(values):
    clock = FrozenClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
    with HubSpotSandbox(clock=clock) as sandbox:
        from connectors.hubspot import HubSpotConnector
        ids = list(sandbox.seed(synthetic_contacts(len(values))).values())
        connector = HubSpotConnector(sandbox.settings(), clock=clock, sleep=lambda s: clock.advance(
            timedelta(seconds=s)))
        connector.ensure_fields()
        updates = [FieldUpdate(i, v) for i, v in zip(ids, values)]
        connector.push(updates)
        once = [(sandbox.written(i), sandbox.native(i).get("lifecyclestage")) for i in ids]
        connector.push(updates)
        assert [(sandbox.written(i), sandbox.native(i).get("lifecyclestage")) for i in ids] == once
        calls = connector.api_calls["push"]
        connector.push([FieldUpdate(u.contact_id, u.values, previous=dict(u.values)) for u in updates])
        assert connector.api_calls["push"] == calls  # believed in the CRM already: no call at all
        assert all(sandbox.written(i)[CanonicalField.SCORE.value] == v.get("score", None)
                   for i, v in zip(ids, values))
        connector.close()
