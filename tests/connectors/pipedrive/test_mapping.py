"""Mapping and settings, without a server: value shapes, stage maps, label swaps, validation."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pydantic import SecretStr, ValidationError

from connectors.pipedrive import PipedriveSettings, Plan
from connectors.pipedrive.client import PipedriveClient
from connectors.pipedrive.setup_warnings import SetupWarnings
from connectors.pipedrive.encoding import ValueRejected, encode_value, labels_after
from connectors.pipedrive.fields import DealFieldReader, FieldCatalog, PersonField, decode_value
from connectors.pipedrive.mapping import DealContext, default_stage_map, parse_time, slug, to_activity, to_deal
from connectors.pipedrive.persons import to_contact
from connectors.pipedrive.settings import DEFAULT_WRITE_FIELDS, FieldSpec
from sync.contract import CanonicalField
from sync.model import ActivityKind, DealStatus, PipelineStage

KEY = "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e"
SETTINGS = PipedriveSettings(api_token=SecretStr("token-123456"), automation_user_ids=frozenset({900}))
MRR = DealFieldReader(PipedriveClient(SETTINGS), SETTINGS, SetupWarnings("pipedrive", "acme"))


def test_times_from_v2_and_v1():
    assert parse_time("2025-01-03T09:12:44Z") == datetime(2025, 1, 3, 9, 12, 44, tzinfo=timezone.utc)
    assert parse_time("2019-02-04 13:58:03") == datetime(2019, 2, 4, 13, 58, 3, tzinfo=timezone.utc)
    assert parse_time("2025-01-03T10:12:44+01:00") == datetime(2025, 1, 3, 9, 12, 44, tzinfo=timezone.utc)
    assert parse_time("") is None and parse_time("yesterday") is None and parse_time(None) is None


def test_field_names_become_snake_case_keys():
    assert (
        slug("Decision role") == "decision_role" and slug("  Annual revenue (EUR) ") == "annual_revenue_eur"
    )


def test_catalog_resolves_custom_fields_by_name_and_labels():
    catalog = FieldCatalog.from_api(
        [
            {"key": "name", "name": "Name", "field_type": "varchar"},
            {
                "key": KEY,
                "name": "crmsync Stage",
                "field_type": "enum",
                "options": [{"id": 5, "label": "lead"}],
            },
            {
                "key": "label_ids",
                "name": "Labels",
                "field_type": "set",
                "options": [{"id": 1, "label": "Hot lead"}],
            },
        ]
    )
    assert catalog.named("CRMSYNC STAGE").key == KEY and catalog.named("Name") is None
    assert catalog.label_options() == {1: "Hot lead"}


def test_decoding_stored_values():
    enum = PersonField(KEY, "Stage", "enum", {5: "lead", 6: "client"})
    yes_no = PersonField(KEY, "Flag", "enum", {1: "Yes", 2: "No"})
    assert decode_value(enum, 6) == "client" and decode_value(enum, {"id": 5, "label": "lead"}) == "lead"
    assert decode_value(yes_no, 1) is True and decode_value(yes_no, 2) is False
    assert decode_value(PersonField(KEY, "Tags", "set", {1: "a", 2: "b"}), [2, 1]) == ["b", "a"]
    assert decode_value(PersonField(KEY, "Money", "monetary"), {"value": 500, "currency": "USD"}) == 500
    assert decode_value(enum, None) is None


def test_encoding_canonical_values():
    spec = DEFAULT_WRITE_FIELDS[CanonicalField.SLA_BREACHED]
    flag = PersonField(KEY, spec.name, "enum", {11: "Yes", 12: "No"})
    assert encode_value(spec, flag, True) == (11, True) and encode_value(spec, flag, None) == (None, None)
    number = PersonField(KEY, "score", "double")
    assert encode_value(DEFAULT_WRITE_FIELDS[CanonicalField.SCORE], number, 87.5) == (87.5, 87.5)
    with pytest.raises(ValueRejected):
        encode_value(DEFAULT_WRITE_FIELDS[CanonicalField.SCORE], number, "87")
    with pytest.raises(ValueRejected):
        encode_value(DEFAULT_WRITE_FIELDS[CanonicalField.SCORE], number, True)
    due = datetime(2026, 11, 3, 10, 30, tzinfo=timezone.utc)
    text = PersonField(KEY, "due", "varchar")
    assert (
        encode_value(DEFAULT_WRITE_FIELDS[CanonicalField.SLA_DUE_AT], text, due)[0] == "2026-11-03T10:30:00Z"
    )
    long_value, written = encode_value(DEFAULT_WRITE_FIELDS[CanonicalField.CRITERIA_MET], text, "x" * 300)
    assert len(long_value) == 255 and written == long_value
    day = PersonField(KEY, "day", "date")
    assert encode_value(FieldSpec(name="day", field_type="date"), day, due) == ("2026-11-03", due)
    tags = PersonField(KEY, "tags", "set", {3: "hot"})
    assert encode_value(FieldSpec(name="tags", field_type="enum"), tags, "hot") == ([3], "hot")


def test_labels_swap_only_the_maturity_label():
    ids = {"hot": 2, "warm": 3, "cold": 4}
    assert labels_after([1, 2], "warm", ids) == [1, 3]
    assert labels_after([1, 2], None, ids) == [1]
    assert labels_after([], "cold", ids) == [4]


def test_default_stage_map_spreads_each_pipeline_over_the_open_stages():
    stages = [{"id": i, "order_nr": i, "pipeline_id": 1} for i in range(1, 6)]
    stages += [
        {"id": 10, "order_nr": 1, "pipeline_id": 2},
        {"id": 11, "order_nr": 2, "pipeline_id": 2},
        {"id": 12, "order_nr": 3, "pipeline_id": 2, "is_deleted": True},
    ]
    mapping = default_stage_map(stages)
    assert [mapping[i] for i in range(1, 6)] == [
        PipelineStage.FIRST_CONTACT,
        PipelineStage.FIRST_CONTACT,
        PipelineStage.DISCOVERY,
        PipelineStage.PROPOSAL,
        PipelineStage.NEGOTIATION,
    ]
    assert (
        mapping[10] is PipelineStage.FIRST_CONTACT
        and mapping[11] is PipelineStage.PROPOSAL
        and 12 not in mapping
    )


def test_deals():
    row = {
        "id": 9,
        "status": "won",
        "stage_id": 3,
        "value": 12000,
        "currency": "EUR",
        "mrr": 1000,
        "expected_close_date": "2026-01-31",
        "add_time": "2025-01-01T00:00:00Z",
    }
    deal = to_deal(row, DealContext({3: PipelineStage.DISCOVERY}, {3: "Demo Scheduled"}, MRR), [])
    assert (
        deal.status is DealStatus.WON
        and deal.stage is PipelineStage.CLOSING
        and deal.crm_stage == "Demo Scheduled"
    )
    assert deal.recurring and deal.contract_months == 12 and deal.close_date == date(2026, 1, 31)
    assert (
        to_deal({**row, "status": "open", "mrr": None}, DealContext({3: PipelineStage.DISCOVERY}, {}, MRR), []).stage
        is PipelineStage.DISCOVERY
    )
    assert to_deal({**row, "status": "deleted"}, DealContext({}, {}), []) is None


def test_activities():
    row = {
        "id": 4,
        "type": "lunch",
        "done": False,
        "due_date": "2026-11-03",
        "due_time": "15:00",
        "owner_id": 1003,
        "creator_user_id": 900,
        "subject": "Lunch",
    }
    activity = to_activity(row, SETTINGS, [])
    assert activity.kind is ActivityKind.MEETING and activity.at == datetime(
        2026, 11, 3, 15, tzinfo=timezone.utc
    )
    assert activity.automated and activity.by == "1003" and not activity.done
    done = to_activity(
        {
            **row,
            "type": "custom_x",
            "done": True,
            "creator_user_id": 1003,
            "marked_as_done_time": "2026-11-04T08:00:00Z",
        },
        SETTINGS,
        [],
    )
    assert done.kind is ActivityKind.TASK and done.at.day == 4 and not done.automated
    assert to_activity({**row, "is_deleted": True}, SETTINGS, []) is None


def test_settings_defaults_and_validation():
    assert SETTINGS.effective_burst() == 20 and SETTINGS.effective_daily_budget() == 30_000
    growth = PipedriveSettings(api_token=SecretStr("t" * 10), plan=Plan.GROWTH, seats=3)
    assert growth.effective_burst() == 40 and growth.effective_daily_budget() == 180_000
    with pytest.raises(ValidationError, match="exactly one"):
        PipedriveSettings()
    with pytest.raises(ValidationError):
        PipedriveSettings(api_token=SecretStr("t" * 10), page_size=501)
    with pytest.raises(ValidationError):
        PipedriveSettings(api_token=SecretStr("t" * 10), ids_per_call=101)
    with pytest.raises(ValidationError):
        PipedriveSettings(api_token=SecretStr("t" * 10), base_url="api.pipedrive.com")
    assert "token-123456" not in repr(SETTINGS)


def test_v1_paths_follow_the_host():
    token = SecretStr("t" * 10)
    assert PipedriveClient(PipedriveSettings(api_token=token)).v1_path("/personFields") == "/v1/personFields"
    company = PipedriveSettings(api_token=token, base_url="https://acme.pipedrive.com")
    assert PipedriveClient(company).v1_path("/users/me") == "/api/v1/users/me"
    forced = PipedriveSettings(api_token=token, base_url="https://acme.pipedrive.com", v1_prefix="/v1")
    assert PipedriveClient(forced).v1_path("/users/me") == "/v1/users/me"


@pytest.mark.parametrize(("typed", "mine", "level"), [
    ("VP", {}, "director"),  # a value people type, read as in every CRM
    ("Individual contributor", {}, "individual"),  # an option such a field is commonly made with
    ("Top management", {"top management": "c_level"}, "c_level"),  # the company's own, without case
    ("Wizard", {}, "Wizard"),  # unknown: kept as typed
])
def test_seniority_reads_through_the_setting_then_the_tables(typed, mine, level):
    catalog = FieldCatalog.from_api([{"key": KEY, "name": "Seniority", "field_type": "varchar"}])
    settings = PipedriveSettings(api_token=SecretStr("token-123456"), seniority_values=mine)
    contact = to_contact({"id": 7, "custom_fields": {KEY: typed}}, catalog=catalog, settings=settings,
                         account="acme", deals=[], activities=[], org_names={}, problems=[])
    assert contact is not None and contact.seniority == level
