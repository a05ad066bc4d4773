"""A full cycle on every sandbox CRM with known credentials, every log line captured (structlog as JSON, and
the standard library's logging of the SDKs, urllib3 and requests, all at DEBUG), and not one token, refresh
token, client secret, API token or session id anywhere in it.

The credentials go the production way: a settings file with `{env: NAME}` references resolved by the
settings loader, accounts opened by `open_account`, runs by `AccountRunner`. Faults make the error paths
speak too: a rate limit and a server error on each CRM (retries are logged), an expired HubSpot OAuth
token (the refresh is logged). The secrets searched for are the configured ones, every credential each
sandbox knows, and every credential that crossed the wire (bearer tokens, API tokens, the form fields of
token requests), so tokens the CRMs issued during the run (OAuth access tokens, Salesforce session ids)
are searched for as well.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync import registry
from sync.clock import FrozenClock
from sync.configfile import read_yaml
from sync.daemon.accounts import AccountRunner, open_account, run_options, select_accounts
from sync.daemon.report import RunOutcome
from sync.log import configure_logging, forget_secrets, reset_logging
from sync.settings import validate_settings
from sync.state import StateStore
from sync.testing import SandboxCrms, external_account

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SDK_LOGGERS = ("urllib3", "requests", "hubspot", "simple_salesforce", "connectors", "crmsync")
NOT_SECRET = {"client_id"}  # an OAuth app's public identifier
# every request of each CRM that carries a credential is one of these (method, path prefix): the faults go there
FAULTY = {"hubspot": "/crm/v3/objects/contacts", "salesforce": "/services/data/", "pipedrive": "/api/v2/persons"}


def open_up_sdk_logging() -> None:
    """What the daemon holds at WARNING, at DEBUG: the worst case. Again after each connector is built,
    because hubspot-api-client's Configuration puts urllib3 back to WARNING whenever it is constructed."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


@pytest.fixture
def captured():
    stream = io.StringIO()
    configure_logging(json=True, stream=stream, level="DEBUG")
    open_up_sdk_logging()
    yield stream
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    reset_logging()
    forget_secrets()


def wire_credentials(sandbox) -> set[str]:
    """Every credential a client sent this sandbox: bearer tokens, API tokens, token-request form fields."""
    found: set[str] = set()
    for request in sandbox.requests.all():
        headers = {k.lower(): v for k, v in request.headers.items()}
        auth = headers.get("authorization", "")
        if auth.lower().startswith(("bearer ", "oauth ")):
            found.add(auth.split(" ", 1)[1])
        found.update(v for k, v in headers.items() if k in ("x-api-token", "api-token", "x-api-key"))
        query = urllib.parse.parse_qs(request.query)
        found.update(query.get("api_token", []))
        if request.body and "token" in request.path:
            form = urllib.parse.parse_qs(request.body.decode(errors="replace"))
            for key in ("refresh_token", "client_secret", "code", "password"):
                found.update(form.get(key, []))
    return {value for value in found if len(value) >= 8}


def test_a_full_cycle_on_every_crm_never_logs_a_secret(tmp_path: Path, captured: io.StringIO):
    clock = FrozenClock(NOW)
    with SandboxCrms(contacts=25, clock=clock) as crms:
        accounts, env = crms.accounts()
        if "hubspot" in crms.sandboxes:  # OAuth as well: a refresh token, a client secret, issued access tokens
            oauth, secrets = external_account("hubspot-oauth", "hubspot", crms["hubspot"].settings(auth="oauth"),
                                              env_prefix="CRMSYNC_E2E_HUBSPOT_OAUTH")
            accounts.append(oauth)
            env.update(secrets)
        for crm, sandbox in crms.sandboxes.items():
            sandbox.faults.add("rate_limit", path=FAULTY[crm])
            sandbox.faults.add("server_error", path=FAULTY[crm])
        config = tmp_path / "crmsync.json"
        config.write_text(json.dumps({"state": {"url": f"sqlite:///{tmp_path / 'state.db'}"}, "accounts": accounts}))
        settings = validate_settings(read_yaml(config), env)
        rules = registry.rules_loader()(None)
        with StateStore(settings.state.url, clock=clock) as store:
            for account in select_accounts(settings):
                if account.name == "hubspot-oauth":  # its access token expires mid-run: the refresh speaks
                    crms["hubspot"].faults.expire_token_after(4)
                # waits (pacing, retries) move the shared frozen clock: nothing sleeps, no window stays shut
                opened = open_account(account, clock=clock,
                                      sleep=lambda seconds: clock.advance(timedelta(seconds=seconds)))
                open_up_sdk_logging()
                try:
                    runner = AccountRunner(store=store, connector=opened.connector, rules=lambda: rules,
                                           clock=clock, options=run_options(settings))
                    summary = runner.cycle(threading.Event())
                    assert summary.outcome is RunOutcome.OK, (account.name, summary.errors)
                    assert summary.pushed == 25
                finally:
                    opened.close()
        secrets = set(env.values())
        for sandbox in crms.sandboxes.values():
            secrets |= {v for k, v in sandbox.credentials().items() if k not in NOT_SECRET}
            on_the_wire = wire_credentials(sandbox)
            assert on_the_wire, "no credential seen on the wire: the search below would prove nothing"
            secrets |= on_the_wire

    text = captured.getvalue()
    lines = text.splitlines()
    assert all(json.loads(line) for line in lines)  # every line is one JSON event, SDK lines included
    loggers = {json.loads(line).get("logger") for line in lines}
    assert "urllib3.connectionpool" in loggers  # the SDKs' own logging was captured, not only ours
    assert {"run_started", "page_committed", "push_batch_recorded", "run_finished"} <= {
        json.loads(line)["event"] for line in lines}
    assert any(re.search(r"retr", line) for line in lines)  # the error paths spoke
    assert len(secrets) >= 2 * len(crms.sandboxes)
    leaked = sorted(secret[:6] + "..." for secret in secrets if secret in text)
    assert not leaked, f"secrets in the logs: {leaked}"
