from __future__ import annotations

import io
import json
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pydantic
import pytest

from sync import registry
from sync.configfile import parse_yaml
from sync.errors import ConfigError
from sync.log import configure_logging, forget_secrets
from sync.settings import default_config_path, json_schema, load_settings, parse_duration, validate_settings

MINIMAL = """\
accounts:
  - name: main
    crm: fake
    settings:
      api_token: {env: FAKE_TOKEN}
"""


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_settings(parse_yaml(text, "crmsync.yaml"), environ or {})
    return [str(i) for i in info.value.issues]


def test_a_minimal_file_gets_every_default_and_a_resolved_secret():
    settings = validate_settings(parse_yaml(MINIMAL, "crmsync.yaml"), {"FAKE_TOKEN": "tok-123456"})
    (account,) = settings.accounts
    assert account.ref.crm == "fake" and account.interval == timedelta(minutes=5)
    assert account.connector is not None
    assert account.connector.api_token.get_secret_value() == "tok-123456"  # type: ignore[attr-defined]
    assert "tok-123456" not in repr(settings)
    assert settings.state.url == "sqlite:///var/crmsync.db" and settings.rules.path is None
    with pytest.raises(pydantic.ValidationError):
        settings.file.http.port = 1  # type: ignore[misc]


def test_durations_accept_units_and_seconds():
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration(45) == timedelta(seconds=45)
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_every_problem_is_reported_with_its_line_and_column():
    text = """\
state:
  url: mysql://db/crm
http:
  port: 99999
accounts:
  - name: main
    crm: fake
    interval: soon
    settings:
      api_token: {env: FAKE_TOKEN}
  - name: main
    crm: zoho
"""
    assert problems(text) == [
        "crmsync.yaml:2:3: state.url: unsupported state store 'mysql': use sqlite:///PATH or postgresql://...",
        "crmsync.yaml:4:3: http.port: Input should be less than or equal to 65535",
        "crmsync.yaml:8:5: accounts.0.interval: 'soon' is not a duration: write e.g. 30s, 5m, 1h30m, 1d",
        "crmsync.yaml:12:5: accounts.1.crm: Input should be 'hubspot', 'salesforce', 'pipedrive' or 'fake'",
    ]


def test_cross_field_problems_are_located_too():
    text = MINIMAL + """\
  - name: main
    crm: fake
    interval: 10s
    jitter: 20s
    settings:
      api_token: {env: FAKE_TOKEN}
"""
    assert problems(text, {"FAKE_TOKEN": "tok-123456"}) == [
        "crmsync.yaml:6:5: account name 'main' is already used by accounts[0]",
        "crmsync.yaml:9:5: jitter must be shorter than interval",
    ]


def test_an_inline_secret_is_refused_without_repeating_it():
    text = MINIMAL.replace("{env: FAKE_TOKEN}", "hunter2-very-secret")
    (problem,) = problems(text)
    assert problem.startswith("crmsync.yaml:5:7: api_token is a secret: write it as {env: VARIABLE}")
    assert "hunter2" not in problem


def test_a_missing_environment_variable_is_named_and_a_secret_file_is_read(tmp_path: Path):
    assert problems(MINIMAL) == ["crmsync.yaml:5:7: api_token: environment variable FAKE_TOKEN is not set"]
    (tmp_path / "token").write_text("from-a-file-123\n")
    config = tmp_path / "crmsync.yaml"
    config.write_text(MINIMAL.replace("{env: FAKE_TOKEN}", "{file: token}"))
    account = load_settings(config, environ={}).accounts[0]
    assert account.connector.api_token.get_secret_value() == "from-a-file-123"  # type: ignore[union-attr]
    config.write_text(MINIMAL.replace("{env: FAKE_TOKEN}", "{file: missing}"))
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    assert "secret file" in str(info.value) and "cannot be read" in str(info.value)


def test_connector_settings_errors_point_into_the_account_or_the_crm_defaults():
    text = """\
crm_defaults:
  fake:
    batch_size: 1000
accounts:
  - name: main
    crm: fake
    settings:
      api_token: {env: FAKE_TOKEN}
      pagesize: 3
"""
    assert problems(text, {"FAKE_TOKEN": "tok-123456"}) == [
        "crmsync.yaml:3:5: batch_size: Input should be less than or equal to 100",
        "crmsync.yaml:9:7: unknown key 'pagesize'",
    ]


def test_a_sandbox_account_needs_no_credentials_but_unknown_keys_are_still_errors():
    text = "accounts:\n  - name: sb\n    crm: fake\n    sandbox: true\n    settings:\n      page_size: 5\n"
    (account,) = validate_settings(parse_yaml(text, "crmsync.yaml"), {}).accounts
    assert account.sandbox and account.connector is None and account.overrides == {"page_size": 5}
    assert problems(text.replace("page_size", "page_sise")) == ["crmsync.yaml:6:7: unknown key 'page_sise'"]


def test_a_connector_that_is_not_installed_fails_only_its_account(monkeypatch):
    monkeypatch.setitem(registry.CRM_KINDS, "hubspot", registry.CrmKind(
        "hubspot", "connectors.nowhere:X", "connectors.nowhere:XSettings", "connectors.nowhere:XSandbox"))
    text = MINIMAL + "  - name: hs\n    crm: hubspot\n"
    (problem,) = problems(text, {"FAKE_TOKEN": "tok-123456"})
    assert problem.startswith("crmsync.yaml:7:5: the hubspot connector cannot be loaded")


def test_resolved_secrets_never_reach_a_log_line():
    forget_secrets()
    validate_settings(parse_yaml(MINIMAL, "crmsync.yaml"), {"FAKE_TOKEN": "tok-SECRET-42"})
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    import structlog

    structlog.get_logger("test").info("connecting", header="Bearer tok-SECRET-42", detail={"x": "tok-SECRET-42"})
    assert "tok-SECRET-42" not in stream.getvalue() and "***" in stream.getvalue()


def _with_fake_connectors(monkeypatch):
    """The default settings name the real CRMs; where a connector is not installed in this build, its kind is
    checked against the fake's settings model (sandbox accounts only check key names)."""
    for name in ("hubspot", "salesforce", "pipedrive"):
        try:
            registry.crm_kind(name).settings_model()
        except registry.NotInstalled:
            monkeypatch.setitem(registry.CRM_KINDS, name, registry.CrmKind(
                name, "sync.testing:FakeConnector", "sync.testing:FakeSettings", "sync.testing:FakeSandbox"))


def test_the_embedded_default_is_shipped_and_valid_all_three_crms_in_sandbox_mode(monkeypatch):
    _with_fake_connectors(monkeypatch)
    path = default_config_path()
    assert resources.files("sync.defaults").joinpath("crmsync.yaml").is_file()
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=./crmsync.schema.json")
    settings = load_settings(path, environ={})
    assert sorted(a.crm for a in settings.accounts) == ["hubspot", "pipedrive", "salesforce"]
    assert all(a.sandbox for a in settings.accounts)
    assert settings.state.url.startswith("sqlite:///")


def test_the_production_example_validates_with_its_secrets_from_the_environment(tmp_path):
    example = resources.files("sync.defaults").joinpath("crmsync.example.yaml")
    text = example.read_text()
    assert text.startswith("# yaml-language-server: $schema=./crmsync.schema.json")
    doc = parse_yaml(text, "crmsync.example.yaml")
    assert doc.data["state"]["url"].startswith("postgresql://")
    refs = [v for a in doc.data["accounts"] for v in a.get("settings", {}).values()
            if isinstance(v, dict) and set(v) & {"env", "file"}]
    assert len(refs) == 5 and all(len(r) == 1 for r in refs)  # an inline secret would not validate below
    # and with the connectors installed, every account's connector settings (field mappings included)
    secret = tmp_path / "salesforce_client_secret"
    secret.write_text("from-a-mounted-secret\n")
    doc = parse_yaml(text.replace("/run/secrets/salesforce_client_secret", str(secret)), "crmsync.example.yaml")
    environ = {"HUBSPOT_EU_TOKEN": "pat-eu-0123456789", "HUBSPOT_US_TOKEN": "pat-us-0123456789",
               "SALESFORCE_CLIENT_ID": "3MVG9-client-id", "PIPEDRIVE_API_TOKEN": "pd-0123456789abcdef"}
    settings = validate_settings(doc, environ)
    assert [a.name for a in settings.accounts] == ["hubspot-eu", "hubspot-us", "salesforce", "pipedrive"]
    hubspot = settings.account("hubspot-eu").connector
    assert hubspot is not None and str(hubspot.field_properties["score"]) == "lead_score_crmsync"
    env_example = (Path(__file__).parents[2] / "crmsync.env.example").read_text()
    assert all(f"{name}=" in env_example for name in environ)  # compose's env file names them all


def test_the_shipped_json_schema_is_current():
    shipped = json.loads(resources.files("sync.defaults").joinpath("crmsync.schema.json").read_text())
    assert shipped == json.loads(json.dumps(json_schema())), (
        "config/crmsync.schema.json is stale: regenerate it with "
        "python -c 'import json; from sync.settings import json_schema; "
        "print(json.dumps(json_schema(), indent=2, sort_keys=True))' > config/crmsync.schema.json")


def test_a_field_mapping_names_only_what_differs_from_the_connectors_defaults():
    text = """\
crm_defaults:
  salesforce:
    field_map: {score: Lead_Score__c}
accounts:
  - name: sf
    crm: salesforce
    settings:
      login_url: https://example.my.salesforce.com
      auth_flow: client_credentials
      client_id: {env: SF_ID}
      client_secret: {env: SF_SECRET}
      field_map: {sla_breached: null}
"""
    settings = validate_settings(parse_yaml(text, "crmsync.yaml"), {"SF_ID": "3MVG9-id", "SF_SECRET": "s3cr3t-value"})
    mapping = {str(k): v for k, v in settings.account("sf").connector.field_map.items()}
    assert mapping["sla_breached"] is None  # the account's own entry: not written
    assert mapping["stage"] == "Crmsync_Stage__c"  # every other field keeps the connector's default
    assert mapping["score"] == "Lead_Score__c"  # crm_defaults' entry, which the account did not name
