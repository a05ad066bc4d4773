"""Custom field setup through describe and the Metadata API (SOAP createMetadata via zeep)."""

from __future__ import annotations

from connectors.salesforce.settings import DEFAULT_FIELD_MAP


def soap_calls(sandbox):
    return [r for r in sandbox.requests.all() if r.path.startswith("/services/Soap/")]


def test_fields_are_created_once_then_found(sandbox, connector):
    report = connector.ensure_fields()
    expected = sorted(f"{o}.{n}" for o in ("Lead", "Contact") for n in DEFAULT_FIELD_MAP.values())
    assert sorted(report.created) == expected and report.problems == []
    assert len(soap_calls(sandbox)) == 3  # 26 components, at most 10 per createMetadata
    assert sandbox.org.custom_meta[("Contact", "Crmsync_Score__c")]["precision"] == "3"
    again = connector.ensure_fields()
    assert again.created == [] and sorted(again.existing) == expected and again.problems == []
    assert len(soap_calls(sandbox)) == 3  # idempotent
    # the objects (global describe), Lead and Contact described, 3 createMetadata, Lead and Contact described
    # again to see the new fields' access; the second setup asks nothing: describe is kept for the run
    assert connector.api_calls["setup"] == 1 + 2 + 3 + 2


def test_a_field_hidden_by_field_level_security_is_named_with_the_fix(sandbox, connector):
    sandbox.hide_field("Contact", "Crmsync_Score__c")
    report = connector.ensure_fields()
    assert "Contact.Crmsync_Score__c" not in report.created
    [problem] = report.problems
    assert "Contact.Crmsync_Score__c" in problem and "field-level security" in problem
    assert "Read/Edit" in problem and "permission set" in problem


def test_fields_created_without_access_are_reported(sandbox, connector):
    sandbox.grant_fls_on_create = False
    report = connector.ensure_fields()
    assert len(report.created) == 26 and len(report.problems) == 26
    assert all("field-level security" in p for p in report.problems)
