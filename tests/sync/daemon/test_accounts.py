from __future__ import annotations

import io
import threading
import time

import structlog

from sync.configfile import parse_yaml
from sync.daemon.accounts import AccountRunner, open_account, run_options, select_accounts
from sync.daemon.engine import RunOptions
from sync.daemon.report import RunOutcome
from sync.log import configure_logging
from sync.settings import validate_settings
from sync.state import StateStore
from sync.testing import FakeSandbox, StandInRules

SETTINGS = """\
push:
  batch_size: 4
accounts:
  - name: sandboxed
    crm: fake
    sandbox: true
    sandbox_contacts: 6
    settings:
      page_size: 2
  - name: real
    crm: fake
    settings:
      server: {server}
      api_token: {{env: FAKE_TOKEN}}
  - name: off
    crm: fake
    enabled: false
    sandbox: true
"""


def test_accounts_open_from_settings_and_a_full_cycle_never_logs_a_secret(tmp_path, clock):
    crm = FakeSandbox(clock=clock).start()
    try:
        crm.seed([])
        settings = validate_settings(parse_yaml(SETTINGS.format(server=crm.name), "crmsync.yaml"),
                                     {"FAKE_TOKEN": crm.token})
        assert [a.name for a in select_accounts(settings)] == ["sandboxed", "real"]
        assert [a.name for a in select_accounts(settings, names=["real"])] == ["real"]
        stream = io.StringIO()
        configure_logging(json=True, stream=stream, level="DEBUG")
        with StateStore(f"sqlite:///{tmp_path / 's.db'}", clock=clock) as store:
            for account in select_accounts(settings):
                opened = open_account(account, clock=clock)
                try:
                    runner = AccountRunner(store=store, connector=opened.connector, rules=StandInRules,
                                           clock=clock, options=run_options(settings))
                    summary = runner.cycle(threading.Event())
                    assert summary.outcome is RunOutcome.OK, summary.errors
                    if account.sandbox:
                        assert summary.pushed == 6 and summary.api_calls["contacts"] == 4  # pages of 2, then an empty one
                        structlog.get_logger("t").info("debugging", settings=dict(opened.connector.settings))
                        secrets = list(opened.sandbox.credentials().values())
                finally:
                    opened.close()
        text = stream.getvalue()
        assert "page_committed" in text
        for secret in [crm.token, *secrets]:
            assert secret not in text
    finally:
        crm.stop()


def test_runs_of_one_account_never_overlap(world):
    runner = AccountRunner(store=world.store, connector=world.connector, rules=lambda: world.rules,
                           clock=world.clock, options=RunOptions(health_interval=None))
    active, overlaps = [0], []
    original = world.store.write_page

    def slow_write(ref, write):
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.01)  # widen the window in which an unserialised run would overlap
        original(ref, write)
        active[0] -= 1

    world.store.write_page = slow_write  # type: ignore[method-assign]
    threads = [threading.Thread(target=job, args=(threading.Event(),))
               for job in (runner.cycle, runner.sweep, runner.rescore, runner.cycle)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps and max(overlaps) == 1
