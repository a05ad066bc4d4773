"""Exact HTTP exchanges, with the shapes of Pipedrive's documentation (the v2 persons list and its
`next_cursor`, PATCH with `custom_fields`, `POST /v1/personFields`, the 429 headers, the gateway 401, the
Cloudflare 403 page), faked by `responses` at the requests layer: every registered exchange must happen,
with exactly these queries and bodies, and nothing else may be sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import responses
from pydantic import SecretStr
from responses import matchers

from connectors.pipedrive import PipedriveConnector, PipedriveSettings
from connectors.pipedrive.paging import Window
from sync.clock import FrozenClock
from sync.contract import CanonicalField, FieldUpdate
from sync.errors import AuthFailed, RateLimited

API = "https://api.pipedrive.com"
TOKEN = "0f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
SCORE_KEY = "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e"
NOW = datetime(2025, 1, 3, 10, 0, tzinfo=timezone.utc)
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class Waits(list):
    """Records waits and moves the connector's clock by them, as time would."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__()
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


def connector(**overrides) -> tuple[PipedriveConnector, Waits]:
    clock = FrozenClock(NOW)
    waits = Waits(clock)
    settings = PipedriveSettings(api_token=SecretStr(TOKEN), resolve_organizations=False, **overrides)
    return PipedriveConnector(settings, clock=clock, sleep=waits), waits


def only_score(**overrides) -> tuple[PipedriveConnector, Waits]:
    spec = PipedriveSettings.model_fields["write_fields"].default_factory()[CanonicalField.SCORE]
    return connector(
        write_fields={CanonicalField.SCORE: spec},
        override_stage_field=None,
        maturity_labels=None,
        **overrides,
    )


def envelope(data, **additional):
    return {"success": True, "data": data, "additional_data": additional or None}


def fields_page(rows):
    return envelope(rows, pagination={"start": 0, "limit": 500, "more_items_in_collection": False})


SCORE_FIELD = {
    "id": 2,
    "key": SCORE_KEY,
    "name": "crmsync score",
    "order_nr": 1,
    "field_type": "double",
    "add_time": "2019-02-04 13:58:03",
    "update_time": "2019-02-04 13:58:03",
    "active_flag": True,
    "edit_flag": True,
    "options": None,
    "mandatory_flag": False,
}
AUTH = matchers.header_matcher({"x-api-token": TOKEN})


def register_setup(mock, fields=(SCORE_FIELD,)):
    mock.get(
        f"{API}/v1/personFields",
        json=fields_page(list(fields)),
        match=[matchers.query_param_matcher({"start": "0", "limit": "500"}), AUTH],
    )


def test_incremental_persons_list_with_updated_since_and_cursor():
    conn, _ = connector()
    include = (
        "activities_count,won_deals_count,open_deals_count,lost_deals_count,done_activities_count,undone_activities_count,"
        "last_activity_id,last_incoming_mail_time,last_outgoing_mail_time"
    )
    window = {
        "limit": "500",
        "updated_since": "2025-01-01T00:00:00Z",
        "updated_until": "2025-01-03T10:00:00Z",
    }
    person = {
        "id": 42,
        "name": "Ada L",
        "first_name": "Ada",
        "last_name": "L",
        "owner_id": 7,
        "org_id": None,
        "add_time": "2024-11-02T10:00:00Z",
        "update_time": "2025-01-03T09:12:44Z",
        "emails": [{"value": "ada@x.io", "primary": True, "label": "work"}],
        "phones": [],
        "is_deleted": False,
        "visible_to": 3,
        "label_ids": [],
        "custom_fields": {SCORE_KEY: 87},
        "won_deals_count": 1,
        "last_incoming_mail_time": "2025-01-02T08:00:00Z",
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        register_setup(mock)
        mock.get(
            f"{API}/api/v2/stages",
            json=envelope([], next_cursor=None),
            match=[matchers.query_param_matcher({"limit": "500"})],
        )
        mock.get(
            f"{API}/api/v2/deals",
            json=envelope([], next_cursor=None),
            match=[matchers.query_param_matcher({**window, "status": "open,won,lost,deleted"})],
        )
        mock.get(
            f"{API}/api/v2/activities",
            json=envelope([], next_cursor=None),
            match=[matchers.query_param_matcher(window)],
        )
        persons = {**window, "sort_by": "update_time", "sort_direction": "asc", "include_fields": include}
        mock.get(
            f"{API}/api/v2/persons",
            json=envelope([person], next_cursor="eyJmaWVsZCI6ImlkIiwiZmllbGRWYWx1ZSI6NDJ9"),
            match=[matchers.query_param_matcher(persons), AUTH],
        )
        mock.get(
            f"{API}/api/v2/persons",
            json=envelope([], next_cursor=None),
            match=[
                matchers.query_param_matcher(
                    {**persons, "cursor": "eyJmaWVsZCI6ImlkIiwiZmllbGRWYWx1ZSI6NDJ9"}
                )
            ],
        )
        cursor = Window(since="2025-01-01T00:00:00Z").encode()  # a window that ended a minute later
        pages = list(conn.pull(cursor))
    contacts = [c for p in pages for c in p.contacts]
    assert [(c.id, c.email, c.owner_id) for c in contacts] == [("42", "ada@x.io", "7")]
    assert contacts[0].fields["won_deals_count"] == 1 and "crmsync_score" not in contacts[0].fields
    assert [(e.type, e.at.isoformat()) for e in contacts[0].events] == [
        ("email_reply", "2025-01-02T08:00:00+00:00")
    ]
    assert all("api_token" not in call.request.url for call in mock.calls)


def test_a_person_row_marked_deleted_is_reported_as_deleted():
    conn, _ = connector()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        register_setup(mock)
        mock.get(f"{API}/api/v2/stages", json=envelope([], next_cursor=None))
        mock.get(f"{API}/api/v2/deals", json=envelope([], next_cursor=None))
        mock.get(f"{API}/api/v2/activities", json=envelope([], next_cursor=None))
        mock.get(
            f"{API}/api/v2/persons",
            json=envelope(
                [{"id": 5, "name": "Gone", "update_time": "2025-01-02T00:00:00Z", "is_deleted": True}],
                next_cursor=None,
            ),
        )
        pages = list(conn.pull(None))
    assert pages[-1].deleted_ids == ["5"] and pages[-1].contacts == []


def test_patch_person_with_custom_fields():
    conn, _ = only_score()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        register_setup(mock)
        mock.patch(
            f"{API}/api/v2/persons/42",
            json=envelope({"id": 42, "custom_fields": {SCORE_KEY: 87}}),
            match=[
                matchers.json_params_matcher({"custom_fields": {SCORE_KEY: 87}}, strict_match=True),
                AUTH,
                matchers.header_matcher({"Content-Type": "application/json"}),
            ],
        )
        results = conn.push([FieldUpdate(contact_id="42", values={"score": 87, "not_a_field": 1})])
    assert results[0].ok and results[0].written == {"score": 87}


def test_post_person_fields_creates_a_missing_field():
    conn, _ = only_score()
    created = {**SCORE_FIELD, "id": 9001}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{API}/v1/personFields", json=fields_page([]))
        mock.post(
            f"{API}/v1/personFields",
            json=envelope(created),
            match=[
                matchers.json_params_matcher(
                    {"name": "crmsync score", "field_type": "double"}, strict_match=True
                ),
                AUTH,
            ],
        )
        mock.get(f"{API}/v1/personFields", json=fields_page([created]))
        report = conn.ensure_fields()
    assert report.created == ["crmsync score"] and report.problems == []


def test_a_429_waits_x_ratelimit_reset_and_sends_once_more():
    conn, waits = only_score()
    limited = {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(
            f"{API}/v1/personFields",
            status=429,
            headers=limited,
            json={
                "success": False,
                "error": "Request over limit",
                "error_info": ERROR_INFO,
                "data": None,
                "additional_data": None,
            },
        )
        mock.get(
            f"{API}/v1/personFields",
            json=fields_page([SCORE_FIELD]),
            headers={"x-ratelimit-limit": "20", "x-ratelimit-remaining": "19", "x-ratelimit-reset": "2"},
        )
        conn.ensure_fields()
    assert waits == [2.0]


def test_the_gateway_401_is_an_auth_failure_for_an_api_token():
    conn, waits = only_score()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(
            f"{API}/v1/personFields",
            status=401,
            headers={"x-401-by-gw": "true"},
            json={
                "success": False,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": "Please check developers.pipedrive.com",
            },
        )
        with pytest.raises(AuthFailed) as caught:
            conn.ensure_fields()
    assert caught.value.status == 401 and TOKEN not in str(caught.value) and waits == []


def test_cloudflares_403_page_is_a_rate_limit_not_a_permission_error():
    conn, waits = only_score(cloudflare_block_wait_s=30)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(
            f"{API}/v1/personFields",
            status=403,
            content_type="text/html",
            body="<!DOCTYPE html><title>Attention Required! | Cloudflare</title>",
        )
        mock.get(f"{API}/v1/personFields", json=fields_page([SCORE_FIELD]))
        conn.ensure_fields()
    assert waits == [30.0]


def test_a_json_403_is_a_permanent_refusal():
    conn, _ = only_score()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        register_setup(mock)
        mock.patch(
            f"{API}/api/v2/persons/7",
            status=403,
            json={
                "success": False,
                "error": "You do not have permission to edit this person",
                "error_info": ERROR_INFO,
                "data": None,
                "additional_data": None,
            },
        )
        result = conn.push([FieldUpdate(contact_id="7", values={"score": 1})])[0]
    assert not result.ok and result.error.code == "forbidden"


def test_the_daily_budget_429_is_not_slept_through():
    conn, waits = only_score()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(
            f"{API}/v1/personFields",
            status=429,
            json={
                "success": False,
                "error": "Daily token budget exceeded",
                "error_info": ERROR_INFO,
                "data": None,
                "additional_data": None,
            },
            headers={"x-daily-ratelimit-token-limit": "30000", "x-daily-ratelimit-token-remaining": "0"},
        )
        with pytest.raises(RateLimited) as caught:
            conn.ensure_fields()
    assert caught.value.scope == "daily" and waits == []
    assert caught.value.retry_after == pytest.approx(14 * 3600)
