"""Where the engine finds each kind of CRM and the rules engine: the ONE module of `sync` that names
`connectors`.

Everything is resolved lazily by dotted path, so importing `sync` never imports an SDK, a connector that
is not installed only fails the accounts that use it (with a message saying so), and tests register the
`fake` kind from `sync.testing` the same way as the real ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pydantic

from sync.contract import Connector


class RulesLike(Protocol):
    """What the daemon uses of `sync.rules.CompiledRules`."""

    version: str

    def evaluate_many(self, contacts: Any, now: Any, memories: Any = None) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class CrmKind:
    """The dotted paths (`module:attribute`) of one CRM's connector, settings model and sandbox."""

    name: str
    connector: str
    settings: str
    sandbox: str

    def connector_class(self) -> Callable[..., Connector]:
        return resolve(self.connector)  # type: ignore[no-any-return]

    def settings_model(self) -> type[pydantic.BaseModel]:
        return resolve(self.settings)  # type: ignore[no-any-return]

    def sandbox_class(self) -> Callable[..., Any]:
        return resolve(self.sandbox)  # type: ignore[no-any-return]


CRM_KINDS: dict[str, CrmKind] = {
    kind.name: kind for kind in (
        CrmKind("hubspot", "connectors.hubspot:HubSpotConnector", "connectors.hubspot:HubSpotSettings",
                "connectors.sandbox.hubspot:HubSpotSandbox"),
        CrmKind("salesforce", "connectors.salesforce:SalesforceConnector", "connectors.salesforce:SalesforceSettings",
                "connectors.sandbox.salesforce:SalesforceSandbox"),
        CrmKind("pipedrive", "connectors.pipedrive:PipedriveConnector", "connectors.pipedrive:PipedriveSettings",
                "connectors.sandbox.pipedrive:PipedriveSandbox"),
        CrmKind("fake", "sync.testing:FakeConnector", "sync.testing:FakeSettings", "sync.testing:FakeSandbox"),
    )
}

RULES_LOADER = "sync.rules:load_rules"
SANDBOX_CRMS = ("hubspot", "salesforce", "pipedrive")  # the real CRMs with a sandbox, in port order


class NotInstalled(LookupError):
    """A dotted path names a module or attribute that is not there (a connector not installed)."""


def resolve(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NotInstalled(f"{path} is not installed (module {exc.name!r} not found)") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise NotInstalled(f"{path} is not installed ({module_name} has no {attribute!r})") from None


def crm_kind(name: str) -> CrmKind:
    try:
        return CRM_KINDS[name]
    except KeyError:
        raise NotInstalled(f"unknown CRM {name!r}; known: {', '.join(sorted(CRM_KINDS))}") from None


def rules_loader() -> Callable[[str | Path | None], RulesLike]:
    """`sync.rules.load_rules`: `load(path_or_None) -> CompiledRules`, raising ConfigError on a bad file."""
    return resolve(RULES_LOADER)  # type: ignore[no-any-return]


def sandbox_classes(crms: Sequence[str] | None = None) -> dict[str, Callable[..., Any]]:
    """The sandbox class of each CRM named (default `SANDBOX_CRMS`: `crmsync sandbox`, `crmsync demo`, the
    benchmarks), in order. Raises `NotInstalled` naming the first one missing."""
    return {name: crm_kind(name).sandbox_class() for name in (SANDBOX_CRMS if crms is None else crms)}
