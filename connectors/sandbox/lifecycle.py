"""`ServedSandbox`: what every sandbox CRM does to be served on 127.0.0.1, written once.

Each sandbox (HubSpot, Pipedrive, Salesforce) keeps its account data for its whole life, but serves it only
between `start()` and `stop()`, through a fresh `server.SandboxServer` (the harness: fault plan, request
log). A subclass says how to build that server for one run (`_serve`); this base starts and stops it, makes
the sandbox a context manager, and hands out the running harness's `base_url`, `faults` and `requests`.

After `stop()` those still answer for the run that ended, so a test can read what was sent once the
`with` block is over; before the first `start()` they raise.

Every sandbox is built with the same four options (`SandboxOptions`), which the demo, the daemon's sandbox
accounts and the test harness pass to whichever CRM they start; a subclass adds its own keywords and hands
these on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self, TypedDict

from connectors.sandbox.server import FaultPlan, RequestLog, SandboxServer
from sync.clock import Clock, SystemClock


class SandboxOptions(TypedDict, total=False):
    """The keywords every sandbox takes (see `ServedSandbox.__init__`)."""

    clock: Clock | None
    port: int
    enforce_limits: bool
    seed: int


class ServedSandbox(ABC):
    """Start/stop and context-manager plumbing shared by the sandbox CRMs. Subclasses implement `_serve`."""

    crm: str
    _server: SandboxServer | None = None  # the harness of the current (or last) run
    _serving: bool = False

    def __init__(self, *, clock: Clock | None = None, port: int = 0, enforce_limits: bool = False,
                 seed: int = 7) -> None:
        """`clock`: the wall clock by default, so a connector on the wall clock sees the sandbox's writes in
        its windows (tests pass the frozen clock they share with the connector). `port`: 0 takes a free one.
        `enforce_limits`: answer past the CRM's documented limits as the CRM does. `seed`: the account's
        credentials and ids derive from it, so two sandboxes of one seed are the same account."""
        self.clock: Clock = clock or SystemClock()
        self.port = port
        self.enforce_limits = enforce_limits
        self.seed_value = seed

    @abstractmethod
    def _serve(self) -> SandboxServer:
        """Build (do not start) the harness for one run: the app, its fault style, the port, TLS."""

    def start(self) -> Self:
        server = self._serve()
        self._server = server
        server.start()
        self._serving = True
        return self

    def stop(self) -> None:
        """Stop serving (idempotent). The account's data and the last run's request log stay readable."""
        if self._server is not None and self._serving:
            self._serving = False
            self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _running(self) -> SandboxServer:
        if self._server is None:
            raise RuntimeError(f"start() the {self.crm} sandbox first")
        return self._server

    @property
    def base_url(self) -> str:
        return self._running.base_url

    @property
    def faults(self) -> FaultPlan:
        return self._running.faults

    @property
    def requests(self) -> RequestLog:
        return self._running.requests
