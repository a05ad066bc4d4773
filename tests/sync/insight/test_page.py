"""The page: one self-contained HTML file (no script, nothing fetched), a chart with a table beside it in every
section, the store's text escaped; and the same page served by the daemon at /report."""

from __future__ import annotations

import re
from datetime import timedelta

import msgspec
import pytest
from werkzeug.test import Client

from sync.daemon.http import OpsApp
from sync.insight.report import build_report
from sync.insight.served import ReportPage, report_html
from sync.model import Stage
from sync.rules.decision import ContactMemory, Decision, SlaState, SlaStatus
from sync.state import AccountRef, Decided, PageWrite, StateStore
from sync.synthetic import synthetic_contact

REF = AccountRef("hubspot", "<eu & co>")


@pytest.fixture
def store(tmp_path, clock):
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as opened:
        yield opened


def fill(store, clock, count=30):
    now = clock.now()
    items = []
    for index in range(count):
        stage = (Stage.LEAD, Stage.PROSPECT, Stage.CLIENT)[index % 3]
        sla = SlaState()
        if stage is Stage.PROSPECT:
            sla = SlaState(status=SlaStatus.BREACHED if index % 2 else SlaStatus.MET,
                           started_at=now - timedelta(days=index), due_at=now - timedelta(days=index - 1),
                           touched_at=None if index % 2 else now - timedelta(days=index, hours=-3), touched_by="u")
        contact = msgspec.structs.replace(synthetic_contact(index, now=now, crm=REF.crm, account=REF.account),
                                          owner_id="<b>owner</b>")
        items.append(Decided(contact, Decision(crm=REF.crm, account=REF.account, contact_id=contact.id,
                                               score=index * 3, fit=0, engagement=0, intent=0, stage=stage, sla=sla,
                                               rules_version="v1", memory=ContactMemory(stage=stage))))
    store.write_page(REF, PageWrite(run_id="r1", rules_version="v1", decided=items))


def test_the_page_is_self_contained_and_every_section_has_its_chart_and_numbers(store, clock):
    fill(store, clock)
    page = report_html(store, now=clock.now(), since=timedelta(days=90))
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert not [u for u in re.findall(r"https?://[^\s\"'<>)]+", page) if "www.w3.org" not in u]
    assert "<b>owner</b>" not in page and "&lt;eu &amp; co&gt;" in page  # the store's text is escaped
    for section in ("funnel-now", "funnel-weekly-all", "sla-weekly", "touch-owner", "scores"):
        block = page.split(f'id="{section}"')[0].rsplit('<div class="pair', 1)[-1]
        assert "<svg" in block, section  # the chart beside the table
    data = build_report(store, now=clock.now(), since=timedelta(days=90))
    assert len(data.breaches) == 5 and 'id="breaches"' in page
    assert page.count("<svg") >= 7


def test_an_empty_store_gives_a_page_that_says_so(store, clock):
    page = report_html(store, now=clock.now(), since=timedelta(days=30))
    assert "No stage history yet" in page and "No open breach" in page and "No calibration yet" in page


def test_the_daemon_serves_the_same_page_and_renders_it_once_in_a_while(store, clock):
    fill(store, clock, count=6)
    ticks = [0.0]
    ops = OpsApp(liveness=dict, readiness=dict, metrics=lambda: b"", metrics_content_type="text/plain",
                 report=ReportPage(store, clock, max_age=timedelta(seconds=30), monotonic=lambda: ticks[0]))
    first = Client(ops).get("/report")
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/html")
    assert first.text == report_html(store, now=clock.now(), since=timedelta(days=90))
    fill(store, clock, count=12)
    assert Client(ops).get("/report").text == first.text  # within max_age: the same render
    ticks[0] = 31.0
    assert Client(ops).get("/report").text != first.text
    assert Client(ops).get("/report?since=2w&account=hubspot").status_code == 200
    bad = Client(ops).get("/report?since=forever")
    assert bad.status_code == 400 and "90d" in bad.text


def test_without_a_report_the_route_is_not_there():
    ops = OpsApp(liveness=dict, readiness=dict, metrics=lambda: b"", metrics_content_type="text/plain")
    assert Client(ops).get("/report").status_code == 404
