"""HubSpot's native fields people edit: the lifecycle stage moves forward only unless the rules moved the
contact back from what crmsync wrote, the lead status a person set stays, and both hold when crmsync does
not know what HubSpot holds (a replay after a crash, a retry, a push before any pull): the push reads it,
one batch read per batch, and a stage HubSpot refuses never fails the record."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.contract import FieldUpdate
from sync.model import Contact

READ = "/crm/v3/objects/contacts/batch/read"
UPDATE = "/crm/v3/objects/contacts/batch/update"


def people(sandbox: HubSpotSandbox, count: int, lifecycle: str | None = "lead") -> list[str]:
    """`count` contacts whose lifecycle stage is `lifecycle` (None: unset)."""
    ids = list(sandbox.seed([Contact(crm="seed", id=str(n), email=f"p{n}@example.com") for n in range(count)]).values())
    for native in ids:
        sandbox.edit(native, {"lifecyclestage": lifecycle or ""})
    return ids


def ready(sandbox: HubSpotSandbox, make_connector: Any, **overrides: Any) -> HubSpotConnector:
    connector = make_connector(**overrides)
    connector.ensure_fields()
    sandbox.requests.clear()
    return connector


def stage(native: str, to: str, before: str | None = None, **known: Any) -> FieldUpdate:
    return FieldUpdate(native, {"stage": to}, previous={"stage": before} if before else {}, crm_values=known)


def test_forward_moves_from_what_crmsync_wrote_and_lead_status_follows_nurture(sandbox, make_connector):
    (native,) = people(sandbox, 1)
    connector = ready(sandbox, make_connector)
    assert connector.push([stage(native, "prospect", "lead")])[0].ok
    assert sandbox.native(native)["lifecyclestage"] == "salesqualifiedlead"
    connector.push([stage(native, "nurture", "prospect")])
    stored = sandbox.native(native)
    assert (stored["lifecyclestage"], stored["hs_lead_status"], stored["crmsync_stage"]) == (
        "salesqualifiedlead", "BAD_TIMING", "nurture")
    connector.push([stage(native, "prospect", "nurture")])
    assert "hs_lead_status" not in sandbox.native(native)  # the status crmsync set is cleared again


def test_a_lead_status_a_person_set_is_kept(sandbox, make_connector, sent_bodies):
    (native,) = people(sandbox, 1)
    sandbox.edit(native, {"hs_lead_status": "IN_PROGRESS"})  # sales is working the lead
    connector = ready(sandbox, make_connector)
    result = connector.push([stage(native, "nurture", "prospect")])[0]
    assert result.ok and result.written == {"stage": "nurture"} and result.kept == ("stage",)  # said, not logged
    stored = sandbox.native(native)
    assert (stored["hs_lead_status"], stored["crmsync_stage"]) == ("IN_PROGRESS", "nurture")
    assert all("hs_lead_status" not in i["properties"] for b in sent_bodies(UPDATE) for i in b["inputs"])


def test_a_stage_no_person_set_is_taken_over_and_a_person_s_stays(sandbox, make_connector, sent_bodies):
    """First sync: HubSpot holds stages crmsync did not write. One a form set (no person) moves on; one a
    person set stays, unless the owner chose `always`. Their history tells which: 50 a read."""
    form, person, third = people(sandbox, 3, lifecycle="lead")
    sandbox.edit(form, {"lifecyclestage": "lead"}, by=None, source="FORM")
    result = ready(sandbox, make_connector).push([stage(form, "prospect"), stage(person, "prospect")])
    assert all(r.ok for r in result)
    assert sandbox.native(form)["lifecyclestage"] == "salesqualifiedlead"
    assert sandbox.native(person)["lifecyclestage"] == "lead" and sandbox.native(person)["crmsync_stage"] == "prospect"
    first, history = sent_bodies(READ)
    assert first["propertiesWithHistory"] == [] and history["propertiesWithHistory"] == ["lifecyclestage"]
    assert sorted(i["id"] for i in history["inputs"]) == sorted([form, person])
    ready(sandbox, make_connector, ownership={"lifecyclestage": "always"}).push([stage(third, "prospect")])
    assert sandbox.native(third)["lifecyclestage"] == "salesqualifiedlead"


def test_a_stage_hubspot_moved_on_by_itself_is_not_moved_back(sandbox, make_connector):
    (native,) = people(sandbox, 1, lifecycle=None)
    sandbox.edit(native, {"lifecyclestage": "customer"}, by=None, source="DEALS")  # a won deal's lifecycle sync
    assert ready(sandbox, make_connector).push([stage(native, "prospect", "lead")])[0].ok
    assert sandbox.native(native)["lifecyclestage"] == "customer"


def test_history_is_read_fifty_at_a_time(sandbox, make_connector, sent_bodies):
    ids = people(sandbox, 120, lifecycle="lead")
    connector = ready(sandbox, make_connector)
    assert all(r.ok for r in connector.push([stage(n, "prospect") for n in ids]))
    sizes = [(len(b["inputs"]), bool(b["propertiesWithHistory"])) for b in sent_bodies(READ)]
    # the whole push call is read before any write: current values 100 a call, then history 50 a call
    assert sizes == [(100, False), (20, False), (50, True), (50, True), (20, True)]
    assert [len(b["inputs"]) for b in sent_bodies(UPDATE)] == [100, 20]


def test_an_empty_lifecycle_stage_is_set_and_never_is_never_written(sandbox, make_connector, sent_bodies):
    first, second = people(sandbox, 2, lifecycle=None)
    ready(sandbox, make_connector).push([stage(first, "client")])
    assert sandbox.native(first)["lifecyclestage"] == "customer"
    connector = ready(sandbox, make_connector, ownership={"lifecyclestage": "never", "hs_lead_status": "never"})
    connector.push([stage(second, "disqualified")])
    assert "lifecyclestage" not in sandbox.native(second) and "hs_lead_status" not in sandbox.native(second)
    assert sent_bodies(READ) == []  # a field crmsync never writes needs no current value


def test_rules_moving_a_contact_back_clear_then_set_in_two_requests(sandbox, make_connector, sent_bodies):
    (native,) = people(sandbox, 1, lifecycle="customer")  # what crmsync wrote for a client
    connector = ready(sandbox, make_connector)
    assert connector.push([stage(native, "lead", "client")])[0].ok
    assert sandbox.native(native)["lifecyclestage"] == "lead"
    clear, setting = [b["inputs"][0]["properties"] for b in sent_bodies(UPDATE)]
    assert clear["lifecyclestage"] == "" and setting == {"lifecyclestage": "lead"}


def test_moving_back_can_be_turned_off(sandbox, make_connector, sent_bodies):
    (native,) = people(sandbox, 1, lifecycle="customer")
    result = ready(sandbox, make_connector, allow_backward_lifecycle=False).push([stage(native, "lead", "client")])[0]
    assert result.ok and sandbox.native(native)["lifecyclestage"] == "customer"
    assert sandbox.native(native)["crmsync_stage"] == "lead"
    assert [b["inputs"][0]["properties"] for b in sent_bodies(UPDATE)] == [{"crmsync_stage": "lead"}]


@pytest.mark.parametrize("backward", ["reject", "ignore"])
@pytest.mark.parametrize("policy", ["unless_changed_by_person", "always"])
def test_a_replay_after_a_crash_never_moves_a_stage_back_nor_fails(clock, virtual_sleep, backward, policy):
    """crmsync decided `prospect` for contacts that were leads and crashed before pushing; meanwhile a person
    (or a won deal) moved them on in HubSpot. The outbox replays the old update, knowing nothing of it."""
    with HubSpotSandbox(clock=clock, backward_lifecycle=backward) as sandbox:
        ids = people(sandbox, 3)
        sandbox.edit(ids[0], {"lifecyclestage": "opportunity"})
        sandbox.edit(ids[1], {"lifecyclestage": "customer"})
        connector = HubSpotConnector(sandbox.settings(ownership={"lifecyclestage": policy}), clock=clock,
                                     sleep=virtual_sleep)
        connector.ensure_fields()
        sandbox.requests.clear()
        replay = [FieldUpdate(native, {"stage": "prospect", "score": 70}, previous={"stage": "lead", "score": 40})
                  for native in ids]
        results = connector.push(replay)
        assert [r.ok for r in results] == [True, True, True]
        assert [sandbox.native(n)["lifecyclestage"] for n in ids] == ["opportunity", "customer", "salesqualifiedlead"]
        assert all(sandbox.written(n)["score"] == 70 and sandbox.written(n)["stage"] == "prospect" for n in ids)
        # one read of the current values; under the default policy one more, of the history of the two
        # values it would keep, which tells that a person set them
        reads = 2 if policy == "unless_changed_by_person" else 1
        assert sandbox.requests.count("POST", READ) == reads and sandbox.requests.count("POST", UPDATE) == 1
        connector.close()


@pytest.mark.parametrize("backward", ["reject", "ignore"])
def test_a_stage_moved_between_the_read_and_the_write_stays(clock, virtual_sleep, backward):
    """A person moves the stage on after the push read it: HubSpot refuses the now backward write (or
    ignores it); the record's own properties still land, the person's stage stays, nothing fails."""
    with HubSpotSandbox(clock=clock, backward_lifecycle=backward) as sandbox:
        ids = people(sandbox, 4)
        connector = HubSpotConnector(sandbox.settings(), clock=clock, sleep=virtual_sleep)
        connector.ensure_fields()
        sandbox.faults.on_request(lambda _: sandbox.edit(ids[2], {"lifecyclestage": "customer"}), path=READ,
                                  after=True)
        results = connector.push([stage(n, "prospect", "lead") for n in ids])
        assert all(r.ok for r in results)
        assert [sandbox.native(n)["lifecyclestage"] for n in ids] == [
            "salesqualifiedlead", "salesqualifiedlead", "customer", "salesqualifiedlead"]
        assert all(sandbox.written(n)["stage"] == "prospect" for n in ids)
        connector.close()


def test_one_read_per_batch_and_none_when_the_values_are_known(sandbox, make_connector, sent_bodies):
    ids = people(sandbox, 250)
    connector = ready(sandbox, make_connector)
    assert all(r.ok for r in connector.push([stage(n, "prospect", "lead") for n in ids]))
    assert [len(b["inputs"]) for b in sent_bodies(READ)] == [100, 100, 50]
    assert sent_bodies(READ)[0]["properties"] == ["lifecyclestage", "hs_lead_status"]
    sandbox.requests.clear()
    known = [stage(n, "client", "prospect", lifecyclestage="salesqualifiedlead", hs_lead_status=None) for n in ids]
    assert all(r.ok for r in connector.push(known))
    assert sent_bodies(READ) == [] and len(sent_bodies(UPDATE)) == 3
    assert {sandbox.native(n)["lifecyclestage"] for n in ids} == {"customer"}
    sandbox.requests.clear()
    connector.push([FieldUpdate(n, {"score": 12}) for n in ids])  # no native field: nothing to read
    assert sent_bodies(READ) == []


def test_the_engine_hands_a_push_call_five_batch_updates_worth(sandbox, make_connector):
    """So the reads a push decides from fill their batches across 500 updates, not 100 at a time."""
    from sync.daemon.engine import batch_size_of

    connector = make_connector(push_batch_size=40)
    assert batch_size_of(connector, None) == 200
    assert batch_size_of(connector, 30) == 30  # an admin's `push.batch_size` still decides
