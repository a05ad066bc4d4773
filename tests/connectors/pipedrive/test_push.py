"""Pushing canonical updates and creating crmsync's fields, through the real client against the sandbox."""

from __future__ import annotations

from datetime import datetime, timezone

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from sync.contract import CanonicalField, FieldUpdate
from sync.model import Maturity, Stage
from sync.synthetic import synthetic_contacts


def patches(sandbox):
    return [r for r in sandbox.requests.all() if r.method == "PATCH"]


def ready(sandbox, make_connector, count=5):
    ids = list(sandbox.seed(synthetic_contacts(count)).values())
    connector = make_connector()
    connector.ensure_fields()
    return ids, connector


def test_one_patch_per_person_with_only_the_given_fields(sandbox, make_connector, clock):
    ids, connector = ready(sandbox, make_connector)
    due = datetime(2026, 11, 3, 10, 0, tzinfo=timezone.utc)
    values = {
        "score": 87,
        "score_fit": 30.5,
        "stage": "prospect",
        "maturity": "hot",
        "sla_status": "running",
        "sla_due_at": due,
        "sla_breached": False,
        "reason": "demo request + decision maker",
        "criteria_met": "need;authority;timing",
        "rules_version": "2026.11-1",
        "client_kind": None,
    }
    before = connector.api_calls["push"]
    results = connector.push([FieldUpdate(contact_id=ids[0], values=values)])
    assert [r.ok for r in results] == [True] and connector.api_calls["push"] - before == 1
    assert results[0].written == values
    stored = sandbox.written(ids[0])
    assert stored == {
        "score": 87,
        "score_fit": 30.5,
        "stage": "prospect",
        "maturity": "hot",
        "sla_status": "running",
        "sla_due_at": "2026-11-03T10:00:00Z",
        "sla_breached": False,
        "reason": "demo request + decision maker",
        "criteria_met": "need;authority;timing",
        "rules_version": "2026.11-1",
    }
    assert sandbox.labels(ids[0]) == ["Hot lead"]
    body = patches(sandbox)[-1].json()
    assert set(body) == {"custom_fields", "label_ids"}
    assert all(len(key) == 40 for key in body["custom_fields"])


def test_nothing_to_write_costs_no_call(sandbox, make_connector):
    ids, connector = ready(sandbox, make_connector)
    before = sum(connector.api_calls.values())
    assert connector.push([]) == []
    results = connector.push(
        [FieldUpdate(contact_id=ids[0], values={}), FieldUpdate(contact_id=ids[1], values={})]
    )
    assert [r.ok for r in results] == [True, True]
    assert sum(connector.api_calls.values()) == before


def test_values_equal_to_what_the_crm_holds_are_not_resent(sandbox, make_connector):
    ids, connector = ready(sandbox, make_connector)
    connector.push([FieldUpdate(contact_id=ids[0], values={"score": 5, "stage": "lead"})])
    before = connector.api_calls["push"]
    same = FieldUpdate(
        contact_id=ids[0], values={"score": 5, "stage": "lead"}, previous={"score": 5, "stage": "lead"}
    )
    assert connector.push([same])[0].ok and connector.api_calls["push"] == before
    moved = FieldUpdate(
        contact_id=ids[0], values={"score": 6, "stage": "lead"}, previous={"score": 5, "stage": "lead"}
    )
    assert connector.push([moved])[0].written == {"score": 6}
    assert list(patches(sandbox)[-1].json()["custom_fields"].values()) == [6]


def test_a_rejected_record_is_reported_and_the_others_are_written_once(sandbox, make_connector):
    ids, connector = ready(sandbox, make_connector)
    sandbox.delete_contact(ids[1])
    updates = [
        FieldUpdate(contact_id=ids[0], values={"score": 10}),
        FieldUpdate(contact_id=ids[1], values={"score": 20}),
        FieldUpdate(contact_id="999999", values={"score": 30}),
        FieldUpdate(contact_id=ids[2], values={"stage": "unheard-of"}),
        FieldUpdate(contact_id=ids[3], values={"score": 40}),
    ]
    results = connector.push(updates)
    assert [r.contact_id for r in results] == [u.contact_id for u in updates]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert [r.error.code for r in results if r.error] == ["gone", "not_found", "invalid_value"]
    assert results[3].error.fields == ("stage",) and "unheard-of" in results[3].error.message
    assert sandbox.written(ids[0]) == {"score": 10} and sandbox.written(ids[3]) == {"score": 40}
    sent = [r.path for r in patches(sandbox)]
    assert len(sent) == len(set(sent)) == 4  # the local rejection costs nothing; nothing is sent twice


def test_none_clears_a_field(sandbox, make_connector):
    ids, connector = ready(sandbox, make_connector)
    connector.push([FieldUpdate(contact_id=ids[0], values={"score": 50, "reason": "x"})])
    connector.push([FieldUpdate(contact_id=ids[0], values={"reason": None})])
    assert sandbox.written(ids[0]) == {"score": 50}
    assert patches(sandbox)[-1].json()["custom_fields"] == {
        next(k for k, v in patches(sandbox)[0].json()["custom_fields"].items() if v == "x"): None
    }


def test_maturity_labels_swap_and_keep_the_labels_people_set(sandbox, make_connector):
    ids, connector = ready(sandbox, make_connector)
    customer = sandbox.store.label_id("Customer")
    sandbox.store.persons[int(ids[0])]["label_ids"] = [customer]
    connector.push([FieldUpdate(contact_id=ids[0], values={"maturity": "cold"})])
    assert sandbox.labels(ids[0]) == ["Customer", "Cold lead"]
    assert connector.api_calls["contacts"] == 1  # the labels are unknown: read once for the batch, by ids=
    connector.push([FieldUpdate(contact_id=ids[0], values={"maturity": "warm"}, previous={"maturity": "cold"})])
    assert sandbox.labels(ids[0]) == ["Customer", "Warm lead"]
    known = {"label_ids": f"{customer},{sandbox.store.label_id('Warm lead')}"}  # as a pull of this run saw them
    connector.push([FieldUpdate(contact_id=ids[0], values={"maturity": None}, previous={"maturity": "warm"},
                                crm_values=known)])
    assert sandbox.labels(ids[0]) == ["Customer"]
    assert connector.api_calls["contacts"] == 2  # known labels are not read again


def test_labels_can_be_switched_off(sandbox, make_connector):
    ids = list(sandbox.seed(synthetic_contacts(1)).values())
    connector = make_connector(maturity_labels=None)
    connector.ensure_fields()
    connector.push([FieldUpdate(contact_id=ids[0], values={"maturity": "hot"})])
    assert sandbox.labels(ids[0]) == [] and sandbox.written(ids[0]) == {"maturity": "hot"}
    assert "label_ids" not in patches(sandbox)[-1].json()


def test_a_missing_field_is_reported_per_record_until_ensure_fields_runs(sandbox, make_connector):
    ids = list(sandbox.seed(synthetic_contacts(1)).values())
    connector = make_connector()
    result = connector.push([FieldUpdate(contact_id=ids[0], values={"score": 1})])[0]
    assert not result.ok and "ensure_fields" in result.error.message
    assert patches(sandbox) == []


def test_ensure_fields_creates_once_and_is_idempotent(sandbox, make_connector):
    connector = make_connector()
    first = connector.ensure_fields()
    assert len(first.created) == len(CanonicalField) + 1 and first.existing == [] and first.problems == []
    posts = [r.json() for r in sandbox.requests.all() if r.method == "POST"]
    assert {"name": "crmsync score", "field_type": "double"} in posts
    assert {
        "name": "crmsync SLA breached",
        "field_type": "enum",
        "options": [{"label": "Yes"}, {"label": "No"}],
    } in posts
    second = make_connector().ensure_fields()
    assert second.created == [] and sorted(second.existing) == sorted(first.created)
    assert sum(r.method == "POST" for r in sandbox.requests.all()) == len(first.created)


def test_ensure_fields_reports_a_field_an_admin_changed(sandbox, make_connector):
    sandbox.store.add_field("crmsync score", "varchar")
    sandbox.store.add_field("crmsync stage", "enum", ["lead", "prospect"])
    report = make_connector().ensure_fields()
    assert "crmsync score" in report.existing and "crmsync stage" in report.existing
    assert any("is varchar" in p for p in report.problems)
    assert any("lacks options" in p and "client" in p for p in report.problems)


def test_a_failed_field_creation_is_checked_before_it_is_sent_again(sandbox, make_connector):
    connector = make_connector()
    sandbox.faults.add("server_error", 1, path="/api/v1/personFields", method="POST")
    report = connector.ensure_fields()
    assert report.problems == []
    names = [f["name"] for f in sandbox.store.fields]
    assert len(names) == len(set(names))


values_strategy = st.fixed_dictionaries(
    {},
    optional={
        "score": st.integers(0, 100) | st.floats(0, 100, allow_nan=False),
        "stage": st.sampled_from([str(s) for s in Stage]),
        "maturity": st.sampled_from([str(m) for m in Maturity]) | st.none(),
        "sla_breached": st.booleans(),
        "reason": st.text(max_size=400) | st.none(),
        "criteria_met": st.text(max_size=300),
        "sla_due_at": st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc)
        ),
    },
)


@pytest.fixture
def prepared(sandbox, make_connector):
    """Three persons and a connector whose fields exist: built once per test, shared by its examples."""
    return ready(sandbox, make_connector, count=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(st.integers(0, 2), values_strategy), min_size=1, max_size=3))
def test_pushing_the_same_updates_twice_leaves_the_same_state(sandbox, prepared, batch):
    ids, connector = prepared
    updates = [FieldUpdate(contact_id=ids[i], values=v) for i, v in batch]
    first = connector.push(updates)
    state = [(sandbox.written(i), sandbox.labels(i)) for i in ids]
    second = connector.push(updates)
    assert [(sandbox.written(i), sandbox.labels(i)) for i in ids] == state
    assert [r.ok for r in first] == [r.ok for r in second] == [True] * len(updates)
