"""Setup on a real account: a problem that switches a feature off is a warning (log and `setup_warnings`) and
the account syncs without it; Pipedrive's native vocabulary maps through one table, with settings for what a
company customises (activity types, the recurring-deal field); every call is counted, setup, token refreshes
and health probes included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from sync.contract import FieldUpdate
from sync.model import Activity, ActivityKind, Deal, DealStatus, PipelineStage
from sync.synthetic import synthetic_contacts


def warnings_logged(logs):
    return [entry for entry in logs if entry["event"] == "setup_warning"]


def test_missing_maturity_labels_are_a_warning_and_the_rest_is_written(sandbox, make_connector):
    (person,) = sandbox.seed(synthetic_contacts(1)).values()
    connector = make_connector(maturity_labels={"hot": "Very hot", "warm": "Warm lead", "cold": "Cold lead"})
    with capture_logs() as logs:
        report = connector.ensure_fields()
    (logged,) = warnings_logged(logs)
    assert logged["log_level"] == "debug" and logged["crm"] == "pipedrive" and logged["account"] == "acme"
    assert "'Very hot'" in logged["message"] and [str(w) for w in connector.setup_warnings] == [logged["message"]]
    assert report.problems == [str(w) for w in connector.setup_warnings] and report.warnings == connector.setup_warnings
    (warning,) = report.warnings
    assert "maturity_labels" in warning.enable and "labels" in warning.lost
    assert connector.push([FieldUpdate(person, {"maturity": "hot"})])[0].ok
    assert sandbox.labels(person) == [] and sandbox.written(person)["maturity"] == "hot"
    with capture_logs() as logs:
        connector.push([FieldUpdate(person, {"maturity": "cold"})])
    assert warnings_logged(logs) == [] and len(connector.setup_warnings) == 1  # said once, not at every push
    for name in ("Very hot", "Warm lead", "Cold lead"):
        labels = sandbox.store.field_by_key("label_ids")["options"]
        if name not in {option["label"] for option in labels}:
            labels.append({"id": sandbox.store.next_id("option"), "label": name, "color": "red"})
    connector.ensure_fields()
    assert connector.setup_warnings == []  # fixed in Pipedrive: the warning leaves the list


def test_fields_the_plan_refuses_are_a_warning_and_the_account_still_syncs(sandbox, make_connector):
    (person,) = sandbox.seed(synthetic_contacts(1)).values()
    sandbox.store.custom_field_limit = sum(field["edit_flag"] for field in sandbox.store.fields) + 3
    connector = make_connector()
    with capture_logs() as logs:
        report = connector.ensure_fields()
    assert report.created == ["crmsync score", "crmsync score fit", "crmsync score engagement"]
    refused = [entry["message"] for entry in warnings_logged(logs)]
    assert len(refused) == len(connector.setup_warnings) == 11
    assert all("refused to create" in message and "limit" in message for message in refused)
    result = connector.push([FieldUpdate(person, {"score": 61, "reason": "demo request", "stage": "lead"})])[0]
    assert result.ok and result.written == {"score": 61} and sandbox.written(person) == {"score": 61}


def test_activity_types_and_deal_statuses_map_through_one_table(sandbox, make_connector, clock):
    (person,) = sandbox.seed(synthetic_contacts(1)).values()
    clock.advance(timedelta(minutes=1))
    for key in ("lunch", "deadline", "call", "demo"):
        sandbox.log_activity(person, Activity(kind=ActivityKind.TASK, at=clock.now(), by="1001", subject=key))
        row = max(sandbox.store.activities.values(), key=lambda act: act["id"])
        row["type"] = key
    sandbox.upsert_deal(person, Deal(id="lost", status=DealStatus.LOST, stage=PipelineStage.CLOSING))
    clock.advance(timedelta(minutes=1))
    (contact,) = [c for page in make_connector(activity_types={"demo": "meeting"}).pull(None) for c in page.contacts]
    kinds = {activity.subject: activity.kind for activity in contact.activities}
    assert kinds["lunch"] is ActivityKind.MEETING and kinds["deadline"] is ActivityKind.TASK
    assert kinds["call"] is ActivityKind.CALL and kinds["demo"] is ActivityKind.MEETING
    assert {deal.id: deal.status for deal in contact.deals}[str(sandbox.deal_id("lost"))] is DealStatus.LOST


def test_recurring_is_read_from_the_deal_field_the_settings_name(sandbox, make_connector, clock):
    (person,) = sandbox.seed(synthetic_contacts(1)).values()
    field = sandbox.store.add_deal_field("Recurring", "enum", ["Yes", "No"])
    yes = next(option["id"] for option in field["options"] if option["label"] == "Yes")
    sandbox.upsert_deal(person, Deal(id="sub", status=DealStatus.WON, amount=1200.0, recurring=False))
    sandbox.upsert_deal(person, Deal(id="mrr", status=DealStatus.WON, amount=1200.0, recurring=True,
                                     contract_months=12))
    sandbox.store.deals[sandbox.deal_id("sub")]["custom_fields"][field["field_code"]] = yes
    clock.advance(timedelta(minutes=1))

    def deals(**settings):
        pulled = [c for page in make_connector(**settings).pull(None) for c in page.contacts]
        return {deal.id: (deal.recurring, deal.contract_months) for deal in pulled[0].deals}

    by_mrr = deals()
    assert by_mrr[str(sandbox.deal_id("mrr"))] == (True, 12) and by_mrr[str(sandbox.deal_id("sub"))] == (False, None)
    by_field = deals(recurring_deal_field="Recurring")
    assert by_field[str(sandbox.deal_id("sub"))] == (True, None)
    assert by_field[str(sandbox.deal_id("mrr"))] == (None, None)  # the company's field says nothing there
    assert deals(recurring_deal_field=None)[str(sandbox.deal_id("mrr"))] == (None, None)
    connector = make_connector(recurring_deal_field="Renews")
    list(connector.pull(None))
    assert any("'Renews'" in warning.what for warning in connector.setup_warnings)


@pytest.mark.parametrize("oauth", [False, True])
def test_every_call_is_counted_setup_refresh_and_health_included(sandbox, make_connector, oauth):
    sandbox.seed(synthetic_contacts(3))
    connector = make_connector(oauth=oauth, recurring_deal_field="Recurring")
    sandbox.store.add_deal_field("Recurring", "enum", ["Yes", "No"])
    report = connector.ensure_fields()
    assert connector.api_calls["setup"] == 2 + len(report.created)  # read, create each, read again
    pages = list(connector.pull(None))
    assert connector.api_calls["setup"] == 2 + len(report.created) + 2  # stages and deal fields, once
    assert sum(page.api_calls for page in pages) == sum(connector.api_calls.values())  # setup included
    assert connector.api_calls["auth"] == (1 if oauth else 0)
    connector.health()
    assert connector.api_calls["health"] == 1
    assert len(sandbox.requests.all()) == sum(connector.api_calls.values())  # nothing sent uncounted
    again = list(connector.pull(pages[-1].cursor))
    assert sum(page.api_calls for page in again) == 4  # the health probe, then persons, deals, activities
