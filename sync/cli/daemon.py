"""`crmsync sandbox`: the three sandbox CRMs on local ports, seeded with synthetic contacts, for manual use.

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

import typer
from rich.console import Console
from rich.table import Table

from sync import registry
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
        return {str(k): str(v) for k, v in dict(self.sandbox.credentials()).items()}


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
    table = Table(title="crmsync sandbox CRMs", title_justify="left")
    for column in ("CRM", "base URL", "credentials", "contacts"):
        table.add_column(column)
    bundles: set[str] = set()
    for item in running:
        creds = "\n".join(f"{name}={value}" for name, value in sorted(item.credentials().items()))
        table.add_row(item.crm, item.base_url, creds, str(item.seeded))
        bundle = ca_bundle(item.sandbox)
        if bundle:
            bundles.add(bundle)
    console.print(table)
    for bundle in sorted(bundles):
        console.print(f"CA bundle (trust it for HTTPS, e.g. REQUESTS_CA_BUNDLE): {Path(bundle)}")
    console.print("Serving until Ctrl-C.")


def wait_for_interrupt() -> None:
    """Block until SIGINT or SIGTERM."""
    with GracefulShutdown() as handlers:
        while not handlers.requested.wait(timeout=1.0):
            pass


def register(app: typer.Typer) -> None:
    """Add `crmsync sandbox` to the main app."""

    @app.command("sandbox")
    def sandbox(
        port_base: int = typer.Option(8600, "--port-base", help="First port; the CRMs take consecutive ports "
                                      "(hubspot, salesforce, pipedrive). 0 picks free ports."),
        contacts: int = typer.Option(200, "--contacts", min=0, help="Synthetic contacts seeded in each CRM."),
        seed: int = typer.Option(7, "--seed", help="Seed of the synthetic population (same seed, same people)."),
    ) -> None:
        """Start the three sandbox CRMs, seeded with synthetic contacts, and serve them until Ctrl-C."""
        console = Console()
        try:
            factories = registry.sandbox_classes()
        except registry.NotInstalled as exc:
            console.print(f"[red]sandbox not available:[/] {exc}")
            raise typer.Exit(1) from None
        running = start_sandboxes(factories, port_base=port_base, contacts=contacts, seed=seed, clock=SystemClock())
        try:
            describe(running, console)
            wait_for_interrupt()
        finally:
            stop_sandboxes(running)
            console.print("Sandboxes stopped.")
