"""Escalation and webhook settings: located problems, secrets only by reference, and the run options each
account gets from them."""

from __future__ import annotations

import pytest

from sync.configfile import parse_yaml
from sync.daemon.accounts import run_options
from sync.errors import ConfigError
from sync.reminders.policy import Escalation
from sync.settings import validate_settings

FILE = """\
sla_webhook:
  url: https://hooks.example/sla
  secret: {env: HOOK_SECRET}
accounts:
  - name: main
    crm: fake
    settings: {api_token: {env: FAKE_TOKEN}}
    escalation: {to: manager, user_id: "42"}
  - name: quiet
    crm: fake
    settings: {api_token: {env: FAKE_TOKEN}}
"""
ENVIRON = {"FAKE_TOKEN": "tok-123456", "HOOK_SECRET": "hook-secret-123"}


def test_escalation_and_the_webhook_become_each_accounts_run_options():
    settings = validate_settings(parse_yaml(FILE, "crmsync.yaml"), ENVIRON)
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "hook-secret-123"
    assert "hook-secret-123" not in repr(settings)
    main, quiet = settings.accounts
    assert run_options(settings, main).escalation == Escalation(manager=True, user_id="42", webhook=True)
    assert run_options(settings, quiet).escalation == Escalation(webhook=True)  # no task, the webhook still
    assert run_options(settings).escalation == Escalation()


@pytest.mark.parametrize(("text", "message"), [
    (FILE.replace("{env: HOOK_SECRET}", "hunter2"), "3:3: sla_webhook.secret: a secret: write it as {env: VARIABLE}"),
    (FILE.replace("{env: HOOK_SECRET}", "{env: MISSING}"), "3:3: sla_webhook.secret: environment variable MISSING"),
    (FILE.replace('{to: manager, user_id: "42"}', "{to: user}"), "8:5: accounts.0.escalation: to: user needs user_id"),
    (FILE.replace("https://hooks.example/sla", "hooks.example"), "2:3: sla_webhook.url"),
])
def test_bad_escalation_and_webhook_settings_are_located(text, message):
    with pytest.raises(ConfigError) as info:
        validate_settings(parse_yaml(text, "crmsync.yaml"), ENVIRON)
    assert any(message in str(issue) for issue in info.value.issues), [str(i) for i in info.value.issues]
