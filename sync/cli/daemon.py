"""The work of `crmsync sandbox` (declared in sync.cli.commands): the three sandbox CRMs on local ports, seeded
with synthetic contacts, for manual use.

Point a browser, curl, an SDK or a crmsync config at them: the command prints each base URL, the
credentials each accepts and the CA bundle that the HTTPS sandbox (Salesforce forces TLS) is signed
with, then serves until Ctrl-C or SIGTERM. Tokens are printed on purpose (they are throw-away values
the sandbox made up) but never logged.

The sandbox classes come from `sync.registry` (the one module of `sync` that names `connectors`), resolved
lazily, so `crmsync` starts (and every other command works) without importing a connector; a missing one
is reported by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from sync import registry
from sync.cli.exits import ExitCode, Failure
from sync.cli.layout import Column, fitted
from sync.clock import Clock, SystemClock
from sync.daemon.signals import GracefulShutdown
from sync.synthetic import synthetic_contacts


def ca_bundle(sandbox: Any) -> str | None:
    """The CA certificate a client must trust for an HTTPS sandbox; None for plain HTTP ones."""
    for holder in (sandbox, getattr(sandbox, "server", None), getattr(getattr(sandbox, "server", None), "tls", None),
                   getattr(sandbox, "tls", None)):
        path = getattr(holder, "ca_path", None) if holder is not None else None
        if path is not None:
            return str(path)
    return None


@dataclass
class RunningSandbox:
    crm: str
    sandbox: Any
    seeded: int

    @property
    def base_url(self) -> str:
        return str(self.sandbox.base_url)

    def credentials(self) -> dict[str, str]:
        return {str(name): str(value) for name, value in dict(self.sandbox.credentials()).items()}


def start_sandboxes(factories: Mapping[str, Callable[..., Any]], *, port_base: int, contacts: int, seed: int,
                    clock: Clock) -> list[RunningSandbox]:
    """Start and seed each sandbox (ports `port_base + i`, or free ports when `port_base` is 0). Each CRM
    gets its own people: the same synthetic population, a different slice of it."""
    running: list[RunningSandbox] = []
    try:
        for index, (crm, factory) in enumerate(factories.items()):
            port = port_base + index if port_base else 0
            sandbox = factory(clock=clock, port=port, enforce_limits=False, seed=seed)
            sandbox.start()
            running.append(RunningSandbox(crm, sandbox, 0))
            people = synthetic_contacts(contacts, seed=seed, now=clock.now(), crm=crm, start=index * contacts)
            running[-1].seeded = len(sandbox.seed(people))
    except BaseException:
        stop_sandboxes(running)
        raise
    return running


def stop_sandboxes(running: list[RunningSandbox]) -> None:
    for item in reversed(running):
        item.sandbox.stop()


def describe(running: list[RunningSandbox], console: Console) -> None:
    """What to point a client at: URLs and credentials whole at any width (a token cut short fails with 401)."""
    rows = [[item.crm, item.base_url,
             "\n".join(f"{name}={value}" for name, value in sorted(item.credentials().items())), str(item.seeded)]
            for item in running]
    console.print(fitted("crmsync sandbox CRMs", [Column("CRM", "id"), Column("base URL", "id"),
                                                  Column("credentials", "id"), Column("contacts", "number")],
                         rows, console.width))
    for bundle in sorted({path for path in (ca_bundle(item.sandbox) for item in running) if path}):
        console.print("CA bundle (trust it for HTTPS, e.g. REQUESTS_CA_BUNDLE):", markup=False, highlight=False)
        console.print(str(Path(bundle)), markup=False, highlight=False, soft_wrap=True)
    console.print("Serving until Ctrl-C.")


def wait_for_interrupt() -> None:
    """Block until SIGINT or SIGTERM."""
    with GracefulShutdown() as handlers:
        while not handlers.requested.wait(timeout=1.0):
            pass


def sandbox(*, port_base: int, contacts: int, seed: int) -> None:
    console = Console()
    try:
        factories = registry.sandbox_classes()
    except registry.NotInstalled as exc:
        raise Failure(ExitCode.NOT_INSTALLED, f"sandbox not available: {exc}") from None
    try:
        running = start_sandboxes(factories, port_base=port_base, contacts=contacts, seed=seed, clock=SystemClock())
    except OSError as exc:
        raise Failure(ExitCode.FAILED, f"--port-base {port_base}: cannot listen there ({exc.strerror or exc}): "
                                      "choose another first port, or 0 for free ports") from None
    try:
        describe(running, console)
        wait_for_interrupt()
    finally:
        stop_sandboxes(running)
        console.print("Sandboxes stopped.")
