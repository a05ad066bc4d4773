"""Test helpers shipped in the package (like `structlog.testing`), importable from here:

- `fake_crm`: a fake CRM that honours the connector protocol faithfully (`FakeSandbox`, `FakeConnector`,
  `FakeSettings`, scheduled faults, `SimulatedCrash`);
- `sandboxes`: the real sandbox CRMs running in this process as ordinary accounts of a settings file
  (`SandboxCrms`, `external_account`), for end-to-end tests and benchmarks;
- `standin_rules`: a small deterministic stand-in for the rules engine (`StandInRules`, `load_rules`,
  `won_deal`); the real engine (`sync.rules.load_rules`) replaces it by name;
- `postgres`: a fresh PostgreSQL schema per test (`postgres_schema`, `postgres_url_for_test`, `POSTGRES_URL_ENV`);
- `conformance`: the suite every connector runs against its sandbox (`ConformanceSuite`, `Harness`,
  `closing_factory`), imported from there directly since it needs pytest.

The registry names the fake CRM as `sync.testing:FakeConnector` (and its settings and sandbox), and tests
import from `sync.testing`: this module is the stable address, the submodules are where the code lives.
"""

from __future__ import annotations

from sync.testing.fake_crm import FakeConnector, FakeFaults, FakeSandbox, FakeSettings, SimulatedCrash
from sync.testing.postgres import POSTGRES_URL_ENV, postgres_schema, postgres_url_for_test
from sync.testing.sandboxes import SandboxCrms, external_account
from sync.testing.standin_rules import (
    EVENT_POINTS,
    INTENT_EVENTS,
    SENIORITY_POINTS,
    ContactError,
    StandInRules,
    StandInRulesFile,
    load_rules,
    won_deal,
)

__all__ = [
    "EVENT_POINTS",
    "INTENT_EVENTS",
    "POSTGRES_URL_ENV",
    "SENIORITY_POINTS",
    "ContactError",
    "FakeConnector",
    "FakeFaults",
    "FakeSandbox",
    "FakeSettings",
    "SandboxCrms",
    "SimulatedCrash",
    "StandInRules",
    "StandInRulesFile",
    "external_account",
    "load_rules",
    "postgres_schema",
    "postgres_url_for_test",
    "won_deal",
]
