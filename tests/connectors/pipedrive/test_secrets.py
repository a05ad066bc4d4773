"""A Pipedrive OAuth installation's secrets are references like every other secret: `{env: NAME}` and
`{file: PATH}` resolve inside the `oauth:` block, an inline secret there is refused without repeating it,
and a connector built from the resolved settings refreshes its token and pulls."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.pipedrive import PipedriveConnector
from sync.configfile import parse_yaml
from sync.errors import ConfigError
from sync.settings import load_settings, validate_settings
from sync.synthetic import synthetic_contacts

OAUTH = """\
accounts:
  - name: acme
    crm: pipedrive
    settings:
      base_url: {base_url}
      oauth:
        client_id: {client_id}
        client_secret: {secret}
        refresh_token: {refresh}
        oauth_url: {base_url}
"""


def text(sandbox, *, secret: str, refresh: str) -> str:
    return OAUTH.format(base_url=sandbox.base_url, client_id=sandbox.credentials()["client_id"], secret=secret,
                        refresh=refresh)


def test_oauth_secrets_come_from_the_environment_and_from_files(sandbox, tmp_path: Path, clock, virtual_sleep):
    credentials = sandbox.credentials()
    (tmp_path / "refresh_token").write_text(credentials["refresh_token"] + "\n")
    config = tmp_path / "crmsync.yaml"
    config.write_text(text(sandbox, secret="{env: PIPEDRIVE_CLIENT_SECRET}", refresh="{file: refresh_token}"))
    (account,) = load_settings(config, environ={"PIPEDRIVE_CLIENT_SECRET": credentials["client_secret"]}).accounts
    oauth = account.connector.oauth  # type: ignore[union-attr]
    assert oauth.client_secret.get_secret_value() == credentials["client_secret"]
    assert oauth.refresh_token.get_secret_value() == credentials["refresh_token"]
    ids = sandbox.seed(synthetic_contacts(3))
    connector = PipedriveConnector(account.connector, account="acme", clock=clock, sleep=virtual_sleep)
    try:
        pulled = [contact.id for page in connector.pull(None) for contact in page.contacts]
    finally:
        connector.close()
    assert sorted(pulled) == sorted(ids.values()) and connector.api_calls["auth"] == 1


def test_an_inline_oauth_secret_is_refused_without_repeating_it(sandbox):
    with pytest.raises(ConfigError) as refused:
        validate_settings(parse_yaml(text(sandbox, secret="hunter2-inline-secret", refresh="{env: UNSET_TOKEN}"),
                                     "crmsync.yaml"), {})
    problems = [str(issue) for issue in refused.value.issues]
    assert len(problems) == 2 and all(problem.startswith("crmsync.yaml:") for problem in problems)
    assert any("oauth.client_secret is a secret: write it as {env: VARIABLE}" in problem for problem in problems)
    assert any("oauth.refresh_token: environment variable UNSET_TOKEN is not set" in problem for problem in problems)
    assert not any("hunter2" in problem for problem in problems)
    inline = next(problem for problem in problems if "client_secret" in problem)
    assert inline.startswith("crmsync.yaml:8:")  # located at the secret's own line
