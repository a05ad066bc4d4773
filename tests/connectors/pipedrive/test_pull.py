"""Pulling through the real HTTP client against the sandbox: full and incremental pulls, cursors that
resume, overlap de-duplication, ties at a page boundary, deal/activity-only changes, deletions, echo."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import requests

from connectors.pipedrive.mapping import format_rfc3339
from connectors.pipedrive.paging import Window
from sync.contract import FieldUpdate
from sync.model import Activity, ActivityKind, Deal, DealStatus, PipelineStage
from sync.synthetic import synthetic_contacts


def decoded(cursor: str) -> Window:
    return Window.decode(cursor, overlap=timedelta(seconds=60))


def pull_all(connector, cursor=None):
    pages = list(connector.pull(cursor))
    contacts = [c for p in pages for c in p.contacts]
    return pages, contacts


def queries(sandbox, path):
    return [parse_qs(r.query) for r in sandbox.requests.all() if r.path == path and r.method == "GET"]


def test_full_pull_reads_everyone_in_the_fewest_calls(sandbox, make_connector):
    ids = sandbox.seed(synthetic_contacts(40))
    connector = make_connector()
    pages, contacts = pull_all(connector)
    assert sorted(c.id for c in contacts) == sorted(ids.values())
    assert len({c.id for c in contacts}) == len(contacts)
    assert all(c.crm == "pipedrive" and c.account == "acme" for c in contacts)
    assert connector.api_calls["contacts"] == 1 and connector.api_calls["deals"] == 1
    assert connector.api_calls["activities"] == 1 and connector.api_calls["associations"] == 1
    assert sum(p.api_calls for p in pages) == sum(connector.api_calls.values())
    assert decoded(pages[-1].cursor).phase is None  # the window is finished
    persons = queries(sandbox, "/api/v2/persons")[0]
    assert persons["sort_by"] == ["update_time"] and persons["limit"] == ["500"]
    assert "updated_since" not in persons and persons["updated_until"] == ["2026-11-02T09:00:00Z"]
    assert "won_deals_count" in persons["include_fields"][0]


def test_full_pull_pages_at_the_api_maximum(sandbox, make_connector):
    ids = sandbox.seed(synthetic_contacts(1001))
    connector = make_connector(resolve_organizations=False)
    pages, contacts = pull_all(connector)
    assert [len(p.contacts) for p in pages] == [500, 500, 1]
    assert len({c.id for c in contacts}) == 1001 == len(ids)
    assert connector.api_calls["contacts"] == 3
    assert all(q["limit"] == ["500"] for q in queries(sandbox, "/api/v2/persons"))


def test_incremental_pull_returns_what_changed_including_deal_and_activity_only_changes(
    sandbox, make_connector, clock
):
    contacts = list(synthetic_contacts(30))
    ids = sandbox.seed(contacts)
    connector = make_connector()
    _, first = pull_all(connector)
    with_deal = next(c for c in contacts if c.deals)
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=10))
    a, b, c, d = (ids[contacts[i].id] for i in (3, 4, 5, 6))
    sandbox.set_field(a, "need", "replace legacy SIEM")
    sandbox.set_field(b, "job_title", "CISO")
    sandbox.log_activity(
        c, Activity(kind=ActivityKind.CALL, at=clock.now(), by="1003", id="x", subject="Call")
    )
    sandbox.upsert_deal(
        d,
        Deal(
            id="new-deal", status=DealStatus.WON, stage=PipelineStage.CLOSING, amount=5000.0, currency="EUR"
        ),
    )
    sandbox.delete_deal(with_deal.deals[0].id)
    clock.advance(timedelta(minutes=1))
    pages, changed = pull_all(connector, cursor)
    by_id = {x.id: x for x in changed}
    assert set(by_id) == {a, b, c, d, ids[with_deal.id]}
    assert by_id[a].fields["need"] == "replace legacy SIEM"
    assert by_id[b].job_title == "CISO"
    assert any(act.subject == "Call" and act.by == "1003" for act in by_id[c].activities)
    assert [x.status for x in by_id[d].deals] == [DealStatus.WON]
    assert all(x.amount != with_deal.deals[0].amount for x in by_id[ids[with_deal.id]].deals)
    deal_query = queries(sandbox, "/api/v2/deals")[-1]
    assert deal_query["status"] == ["open,won,lost,deleted"] and "updated_since" in deal_query
    assert any("ids" in q for q in queries(sandbox, "/api/v2/persons"))  # deal/activity-only persons by ids=


def test_complete_history_brings_every_deal_and_activity_of_a_changed_person(sandbox, make_connector, clock):
    contact = next(c for c in synthetic_contacts(60) if len(c.deals) >= 2 and len(c.activities) >= 3)
    native = sandbox.seed([contact])[contact.id]
    connector = make_connector(complete_history=True)
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=5))
    sandbox.log_activity(
        native, Activity(kind=ActivityKind.EMAIL, at=clock.now(), by="1001", subject="Reply")
    )
    clock.advance(timedelta(minutes=1))
    before = dict(connector.api_calls)
    _, changed = pull_all(connector, cursor)
    assert len(changed[0].deals) == len(contact.deals)
    assert len(changed[0].activities) == len(contact.activities) + 1
    assert connector.api_calls["deals"] - before["deals"] == 2  # the window, then this person's deals
    assert connector.api_calls["activities"] - before["activities"] == 2


def test_nothing_changed_means_an_empty_page_and_a_cursor_that_moves(sandbox, make_connector, clock):
    sandbox.seed(synthetic_contacts(5))
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=5))
    pages, contacts = pull_all(connector, cursor)
    assert contacts == [] and len(pages) == 1
    assert decoded(pages[-1].cursor).since == "2026-11-02T09:04:00Z"  # up to 09:05, less the overlap


def test_ties_at_a_page_boundary_are_not_lost_and_the_overlap_is_not_emitted_twice(
    sandbox, make_connector, clock
):
    ids = list(sandbox.seed(synthetic_contacts(20)).values())
    connector = make_connector(page_size=5)
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(seconds=10))
    sandbox.touch_many(ids[:7])  # a bulk edit: seven persons share one update_time across a page boundary
    clock.advance(timedelta(seconds=10))
    pages, changed = pull_all(connector, cursor)
    assert sorted(c.id for c in changed) == sorted(ids[:7])
    clock.advance(timedelta(seconds=10))
    again, repeated = pull_all(connector, pages[-1].cursor)  # re-reads the last 60 s, emits nothing twice
    assert repeated == []
    overlap_query = [q for q in queries(sandbox, "/api/v2/persons") if "updated_since" in q][-1]
    previous_until = clock.now() - timedelta(seconds=10)  # when the previous pull started
    assert overlap_query["updated_since"] == [format_rfc3339(previous_until - timedelta(seconds=60))]
    assert decoded(pages[-1].cursor).since == overlap_query["updated_since"][0]


def test_what_the_overlap_skipped_stays_skipped_while_it_is_in_the_overlap(sandbox, make_connector, clock):
    """Pulls closer together than the overlap (60 s): a person and its deal changed once are emitted once, not
    again by the pull after the one that skipped them (found by the full-resync benchmark's steady state)."""
    ids = list(sandbox.seed(synthetic_contacts(3)).values())
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(seconds=5))
    sandbox.set_field(ids[0], "need", "compliance audit")
    sandbox.upsert_deal(ids[1], Deal(id="new", status=DealStatus.OPEN, stage=PipelineStage.DISCOVERY))
    emitted = []
    for _ in range(4):  # every 10 s: each pull's window starts 60 s before the previous one's end
        clock.advance(timedelta(seconds=10))
        pages, changed = pull_all(connector, cursor)
        emitted.append(sorted(c.id for c in changed))
        cursor = pages[-1].cursor
    assert emitted == [sorted(ids[:2]), [], [], []]


def test_a_person_in_the_overlap_whose_deal_changed_since_is_pulled_again(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(3)).values())
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(seconds=20))
    sandbox.set_field(ids[0], "need", "compliance audit")
    clock.advance(timedelta(seconds=10))
    cursor = list(connector.pull(cursor))[-1].cursor  # emits ids[0]; its update_time is now in the overlap
    clock.advance(timedelta(seconds=10))
    sandbox.upsert_deal(
        ids[0], Deal(id="late", status=DealStatus.OPEN, stage=PipelineStage.DISCOVERY, amount=9.0)
    )
    clock.advance(timedelta(seconds=10))
    _, changed = pull_all(connector, cursor)
    assert [c.id for c in changed] == [ids[0]]
    assert [d.amount for d in changed[0].deals] == [9.0]


def test_a_change_that_shows_up_late_inside_the_overlap_is_still_pulled(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(5)).values())
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    # a write stamped by a server clock 20 s behind ours becomes visible only after our pull ended
    sandbox.store.persons[int(ids[0])]["update_time"] = "2026-11-02T08:59:40Z"
    clock.advance(timedelta(seconds=30))
    _, changed = pull_all(connector, cursor)
    assert [c.id for c in changed] == [ids[0]]


def test_a_mid_pull_cursor_resumes_after_its_page(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(12)).values())
    connector = make_connector(page_size=5)
    pages = connector.pull(None)
    first = next(pages)
    assert len(first.contacts) == 5 and decoded(first.cursor).phase is not None
    pages.close()  # the daemon crashed here
    resumed, rest = pull_all(make_connector(page_size=5), first.cursor)
    assert sorted([c.id for c in first.contacts] + [c.id for c in rest]) == sorted(ids)


def test_deleted_persons_leave_the_lists(sandbox, make_connector, clock):
    """Pipedrive lists only live persons: a deletion is invisible to polling (webhooks carry it)."""
    ids = list(sandbox.seed(synthetic_contacts(4)).values())
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=1))
    sandbox.delete_contact(ids[1])
    clock.advance(timedelta(minutes=1))
    pages, changed = pull_all(connector, cursor)
    assert changed == [] and all(p.deleted_ids == [] for p in pages)
    _, everyone = pull_all(make_connector())
    assert ids[1] not in {c.id for c in everyone}


def test_the_engine_sees_the_echo_of_its_own_writes(sandbox, make_connector, clock):
    ids = sandbox.seed(synthetic_contacts(3))
    connector = make_connector()
    connector.ensure_fields()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=1))
    native = ids["100001"]
    assert connector.push([FieldUpdate(contact_id=native, values={"score": 42})])[0].ok
    clock.advance(timedelta(minutes=1))
    _, changed = pull_all(connector, cursor)
    assert [c.id for c in changed] == [native]
    assert "crmsync_score" not in changed[0].fields  # crmsync's own fields are not inputs


def test_a_merge_shows_as_the_survivor_changing_and_the_loser_leaving(sandbox, make_connector, clock):
    """Pipedrive's lists do not say "merged": the survivor comes back with the loser's deals and
    activities, and the loser is no longer listed (webhooks alone carry `merged_to_id`)."""
    contacts = [c for c in synthetic_contacts(40) if c.deals and c.activities][:2]
    loser, survivor = (sandbox.seed([c])[c.id] for c in contacts)
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=1))
    sandbox.merge_contacts(loser, survivor)
    clock.advance(timedelta(minutes=1))
    pages, changed = pull_all(connector, cursor)
    assert [c.id for c in changed] == [survivor]
    assert len(changed[0].deals) == len(contacts[0].deals)  # the moved deals are what changed in the window
    assert len(changed[0].activities) == len(contacts[0].activities)
    _, everyone = pull_all(make_connector())
    assert loser not in {c.id for c in everyone}


def test_the_sandbox_refuses_oversize_requests_like_the_api(sandbox):
    token = {"x-api-token": sandbox.credentials()["api_token"]}
    base = f"{sandbox.base_url}/api/v2/persons"
    too_many_ids = ",".join(str(i) for i in range(1, 102))
    for query in (
        {"limit": "501"},
        {"ids": too_many_ids},
        {"custom_fields": ",".join(["a" * 40] * 16)},
        {"include_fields": "favourite_colour"},
        {"updated_since": "2026-11-02"},
    ):
        answer = requests.get(base, params=query, headers=token, timeout=5)
        assert answer.status_code == 400, query
        assert answer.json()["success"] is False and answer.json()["error"]
    assert requests.get(base, params={"api_token": token["x-api-token"]}, timeout=5).status_code == 401


def test_pages_say_whether_they_carry_whole_histories(sandbox, make_connector, clock):
    contact = next(c for c in synthetic_contacts(60) if c.deals and c.activities)
    native = sandbox.seed([contact])[contact.id]
    connector = make_connector()
    full = list(connector.pull(None))
    assert all(page.related_complete for page in full)  # a full pull lists every deal and activity
    clock.advance(timedelta(minutes=5))
    sandbox.set_field(native, "need", "replace legacy SIEM")
    clock.advance(timedelta(minutes=1))
    window = list(connector.pull(full[-1].cursor))
    assert window and not any(page.related_complete for page in window)  # the engine completes them
    assert make_connector(complete_history=True).settings.complete_history
