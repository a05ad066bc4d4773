"""What every connector does the same way around its gateway, so a connector class holds only its CRM's
pull, push and field setup.

`ConnectorBase` keeps the account's identity, counts calls through the gateway (`api_calls`, by category,
and `calls_made()` to measure a page's share), reports `health()` from the gateway's latest answers after
the client's cheapest authenticated request (`probe`), and closes the transport and the connector's scratch
space (`sync.spill`: what would otherwise grow with the account in memory).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from sync.clock import Clock
from sync.contract import Health, SetupWarning
from sync.spill import Scratch
from sync.toolkit.gateway import Gateway


class Client(Protocol):
    """A connector's client: its transport behind one gateway."""

    gateway: Gateway

    def probe(self) -> Any:
        """The cheapest authenticated request that tells whether the account answers."""
        ...

    def close(self) -> None: ...


class ConnectorBase:
    """The shared part of `sync.contract.Connector`; subclasses add pull, push and ensure_fields."""

    crm: str

    def __init__(self, client: Client, *, settings: Any, account: str, clock: Clock) -> None:
        self.client = client
        self.settings = settings
        self.account = account
        self._clock = clock
        self.api_calls: Counter[str] = client.gateway.calls
        self._scratch = Scratch(prefix=f"crmsync-{self.crm}-")

    def calls_made(self) -> int:
        """Every request sent so far: a page reports the difference since the previous page."""
        return sum(self.api_calls.values())

    def health(self) -> Health:
        return self.client.gateway.health(self.client.probe)

    @property
    def setup_warnings(self) -> list[SetupWarning]:
        """The setup problems that switch a feature off now (`sync.contract.ReportsSetupWarnings`): none
        unless the connector finds some."""
        return []

    def close(self) -> None:
        self.client.close()
        self._scratch.close()
