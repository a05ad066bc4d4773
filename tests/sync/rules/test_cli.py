"""`crmsync rules check | explain | test | diff | schema`, through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sync.cli import app
from sync.model import encode
from sync.rules import default_rules_path
from sync.synthetic import synthetic_contacts

NOW = "2026-11-02T09:00:00+00:00"
MALFORMED = Path(__file__).parent / "malformed"


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["rules", *args], catch_exceptions=False)
    return run


def test_check_passes_on_the_default_rules(cli) -> None:
    result = cli("check")
    assert result.exit_code == 0
    assert "OK, rules version" in result.output


def test_check_prints_every_error_located_and_exits_3(cli, tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    text = (MALFORMED / "unknown_field.yaml").read_text().replace("cap: 30}", "cap: 30, colour: red}", 1)
    path.write_text(text)
    result = cli("check", str(path))
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert lines == [
        (f"{path}:6:16: scoring.fit.rules.0.when.field: unknown field 'indstry': use one of "
         "account, company, company_size, country, created_at, crm, email, email_domain, first_name, "
         "id, industry, job_title, last_name, owner_id, seniority, source, updated_at or fields.<name>"),
        f"{path}:8:25: unknown key 'colour'",
        f"2 problems in {path}",
    ]


def test_check_a_missing_file(cli, tmp_path) -> None:
    result = cli("check", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 5 and "nope.yaml:1:1: file not found" in result.output


def test_explain_readable_and_json(cli, tmp_path) -> None:
    person = tmp_path / "contact.yaml"
    person.write_text("crm: demo\nid: c-9\nindustry: software\ncompany_size: 200\nseniority: director\n"
                      "events:\n  - {type: demo_request, at: -2d}\n  - {type: webinar, at: -3d}\n")
    readable = cli("explain", "--contact", str(person), "--now", NOW)
    assert readable.exit_code == 0, readable.output
    assert "demo_request" in readable.output and "score" in readable.output and "SLA" in readable.output
    machine = cli("explain", str(default_rules_path()), "--contact", str(person), "--now", NOW, "--json")
    data = json.loads(machine.output)
    assert data["contact_id"] == "c-9" and {"dimension", "name", "points"} <= set(data["fired"][0])


def test_explain_reports_a_bad_contact_with_its_position(cli, tmp_path) -> None:
    person = tmp_path / "contact.yaml"
    person.write_text("crm: demo\nid: c-9\nevents:\n  - {type: download, at: last tuesday}\n")
    result = cli("explain", "--contact", str(person), "--now", NOW)
    assert result.exit_code == 3
    assert f"{person}:4:22: contact.events.0.at: Invalid RFC3339 encoded datetime" in result.output


def test_test_runs_the_shipped_cases(cli) -> None:
    result = cli("test")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_test_shows_a_diff_on_mismatch(cli, tmp_path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("now: 2026-11-02T09:00:00Z\ncases:\n  - name: wrong on purpose\n"
                     "    contact: {crm: d, id: '1', events: [{type: download, at: -1d}]}\n"
                     "    expect: {stage: client, score: {min: 90}}\n")
    result = cli("test", "--cases", str(cases))
    assert result.exit_code == 1
    assert "FAIL  wrong on purpose" in result.output
    assert "- expected client" in result.output and "+ actual   lead" in result.output
    assert "- expected >= 90" in result.output
    assert "0 passed, 1 failed" in result.output


def test_diff_shows_transitions_and_shifts(cli, tmp_path) -> None:
    sample = tmp_path / "contacts.jsonl"
    sample.write_bytes(b"\n".join(encode(c) for c in synthetic_contacts(300)) + b"\n{not json}\n")
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(default_rules_path().read_text().replace("threshold: 70", "threshold: 85"))
    result = cli("diff", str(default_rules_path()), str(stricter), "--contacts", str(sample), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "stage transitions" in result.output and "prospect" in result.output
    assert "contacts that change stage" in result.output and "-> lead" in result.output
    assert "1 unreadable" in result.output
    data = json.loads(cli("diff", str(default_rules_path()), str(stricter), "--contacts", str(sample), "--now",
                          NOW, "--json").output)
    assert data["contacts"] == 300 and data["changed_stage"] > 0
    assert sum(t["count"] for t in data["transitions"]) == 300
    assert all(t["from"] in ("prospect", "lead", "nurture") for t in data["transitions"] if t["from"] != t["to"])


def test_schema_check_and_write(cli, tmp_path) -> None:
    target = tmp_path / "rules.schema.json"
    assert cli("schema", "-o", str(target), "--check").exit_code == 1
    assert cli("schema", "-o", str(target)).exit_code == 0
    assert cli("schema", "-o", str(target), "--check").exit_code == 0
    assert json.loads(target.read_text())["properties"]["scoring"]


def test_explain_says_how_late_a_touch_was(cli, tmp_path) -> None:
    person = tmp_path / "contact.yaml"
    person.write_text(
        "crm: demo\nid: late\nowner_id: '1003'\nindustry: finance\ncompany_size: 800\nseniority: c_level\n"
        "job_title: CISO\ncountry: DE\nfields: {decision_role: co_decider, timing: within 3 months}\n"
        "events: [{type: meeting_booked, at: 2026-11-06T16:00:00Z}]\n"
        "activities: [{kind: email, at: 2026-11-12T15:00:00Z, by: '1003'}]\n")
    result = cli("explain", "--contact", str(person), "--now", "2026-11-13T09:00:00+00:00")
    assert ("SLA       late: handed off 2026-11-06 16:00 UTC (a marketing signal), due 2026-11-12 13:00 UTC"
            in result.output)
    assert "(2.0 business hours late)" in result.output


def test_check_answers_every_malformed_file_with_located_messages(cli) -> None:
    for path in sorted(MALFORMED.glob("*.yaml")):
        result = cli("check", str(path))
        assert result.exit_code == 3, path.name  # a file that does not validate (sync.cli.exits)
        assert result.output.startswith(f"{path}:"), (path.name, result.output[:300])
        assert "Traceback" not in result.output


def test_diff_locates_unreadable_lines_and_fails_when_none_could_be_read(cli, tmp_path) -> None:
    good = encode(next(iter(synthetic_contacts(1))))
    sample = tmp_path / "contacts.jsonl"
    sample.write_bytes(good + b"\n" + b'{"crm": "x", "id": "caf\xe9"}\n' + b'{"crm": "x", "id": "d", "created_at": '
                       b'"2026-02-30T10:00:00Z"}\n' + b"[1, 2\n")
    result = cli("diff", str(default_rules_path()), str(default_rules_path()), "--contacts", str(sample), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "1 contacts" in result.output and "3 unreadable" in result.output
    assert f"skipped: {sample}:2:24: not UTF-8 text (invalid continuation byte)" in result.output
    assert f"skipped: {sample}:3:1: contact.created_at: Invalid RFC3339 encoded datetime" in result.output
    assert f"skipped: {sample}:4:1: not JSON:" in result.output
    unreadable = tmp_path / "unreadable.jsonl"
    unreadable.write_bytes(b"\xff\xfe not a contact\n")
    result = cli("diff", str(default_rules_path()), str(default_rules_path()), "--contacts", str(unreadable),
                 "--now", NOW)
    assert result.exit_code == 1
    assert "no contact could be read (1 lines rejected)" in result.output


def test_test_locates_an_impossible_date_in_a_cases_file(cli, tmp_path) -> None:
    cases = tmp_path / "rules.cases.yaml"
    cases.write_text("now: 2026-11-02T09:00:00Z\ncases:\n  - name: impossible\n    contact:\n      crm: demo\n"
                     "      id: x\n      events: [{type: download, at: 2026-02-30T10:00:00Z}]\n    expect: {stage: lead}\n")
    result = cli("test", str(default_rules_path()), "--cases", str(cases))
    assert result.exit_code == 3
    assert result.output.startswith(f"{cases}:7:")
    assert "contact.events.0.at: Invalid RFC3339 encoded datetime" in result.output
    cases.write_bytes(b"now: 2026-11-02T09:00:00Z\n# \xe9t\xe9\ncases: []\n")
    result = cli("test", str(default_rules_path()), "--cases", str(cases))
    assert result.exit_code == 3 and result.output.startswith(f"{cases}:2:3: not UTF-8 text")


def test_explain_shows_the_seniority_a_title_gives_and_how_the_hand_off_was_dated(cli, tmp_path) -> None:
    person = tmp_path / "contact.yaml"
    person.write_text("crm: demo\nid: dsi\nowner_id: '1'\njob_title: Directrice des systèmes d’information\n"
                      "company: Azur SAS\nfields: {need: SIEM, timing: dans 3 mois}\n", encoding="utf-8")
    result = cli("explain", "--contact", str(person), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "seniority c_level (from the job title; the CRM gives none)" in result.output
    assert "handed off 2026-11-02 09:00 UTC (first seen qualifying: no dated signal)" in result.output
