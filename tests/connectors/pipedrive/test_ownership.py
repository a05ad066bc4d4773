"""Person labels are a native field people edit: crmsync keeps every label people set, and moves its maturity
labels only as the ownership policy allows (`label_ids`, `unless_changed_by_person` by default)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts


@pytest.fixture
def person(sandbox):
    (native,) = sandbox.seed(synthetic_contacts(1)).values()
    return native


def label(sandbox, name):
    return sandbox.store.label_id(name)


def maturity(value, previous=None, **extra):
    return {"values": {"maturity": value}, "previous": {} if previous is None else {"maturity": previous}, **extra}


def test_a_label_a_person_set_by_hand_is_kept(sandbox, make_connector, person):
    connector = make_connector()
    connector.ensure_fields()
    sandbox.store.persons[int(person)]["label_ids"] = [label(sandbox, "Customer"), label(sandbox, "Hot lead")]
    result = connector.push([FieldUpdate(person, **maturity("cold"))])[0]  # crmsync never wrote a label here
    assert result.ok and result.written == {"maturity": "cold"}  # its own field, always crmsync's
    assert result.kept == ("maturity",)  # the labels kept the person's: the push says so
    assert sandbox.labels(person) == ["Customer", "Hot lead"] and sandbox.written(person)["maturity"] == "cold"
    result = connector.push([FieldUpdate(person, **maturity("warm", previous="cold"))])[0]
    assert result.ok and sandbox.labels(person) == ["Customer", "Hot lead"]


def test_the_label_crmsync_wrote_last_is_moved_and_an_empty_one_filled(sandbox, make_connector, person):
    connector = make_connector()
    connector.ensure_fields()
    connector.push([FieldUpdate(person, **maturity("cold"))])
    assert sandbox.labels(person) == ["Cold lead"]
    connector.push([FieldUpdate(person, **maturity("hot", previous="cold"))])
    assert sandbox.labels(person) == ["Hot lead"]
    sandbox.store.persons[int(person)]["label_ids"] = [label(sandbox, "Warm lead")]  # a person changed it
    connector.push([FieldUpdate(person, **maturity("cold", previous="hot"))])
    assert sandbox.labels(person) == ["Warm lead"]


@pytest.mark.parametrize(("policy", "expected"), [("always", ["Customer", "Cold lead"]),
                                                  ("never", ["Customer", "Hot lead"])])
def test_the_policy_is_the_admins(sandbox, make_connector, person, policy, expected):
    connector = make_connector(ownership={"label_ids": policy})
    connector.ensure_fields()
    sandbox.store.persons[int(person)]["label_ids"] = [label(sandbox, "Customer"), label(sandbox, "Hot lead")]
    before = connector.api_calls["contacts"]
    assert connector.push([FieldUpdate(person, **maturity("cold"))])[0].ok
    assert sandbox.labels(person) == expected
    assert connector.api_calls["contacts"] - before == (0 if policy == "never" else 1)


def test_labels_are_read_once_per_batch_unless_a_pull_of_the_run_knows_them(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(150)).values())
    connector = make_connector()
    connector.ensure_fields()
    before = connector.api_calls["contacts"]
    results = connector.push([FieldUpdate(native, **maturity("warm")) for native in ids])
    assert all(r.ok for r in results) and connector.api_calls["contacts"] - before == 2  # 100 ids a call
    clock.advance(timedelta(minutes=1))
    pulled = {c.id: c for page in connector.pull(None) for c in page.contacts}
    assert pulled[ids[0]].crm_values == {"label_ids": str(label(sandbox, "Warm lead"))}
    before = connector.api_calls["contacts"]
    updates = [FieldUpdate(native, **maturity("hot", previous="warm", crm_values=pulled[native].crm_values))
               for native in ids]
    assert all(r.ok for r in connector.push(updates)) and connector.api_calls["contacts"] == before
    assert {tuple(sandbox.labels(native)) for native in ids} == {("Hot lead",)}
