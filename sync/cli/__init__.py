"""The `crmsync` command. Each command group lives in its own module; this one only assembles them."""

from __future__ import annotations

import typer

from sync.cli import daemon as daemon_commands
from sync.cli import demo as demo_command
from sync.cli import ops, rules
from sync.cli import report as report_command
from sync.cli import run as run_command

app = typer.Typer(
    name="crmsync",
    help="Keeps every contact in HubSpot, Salesforce and Pipedrive scored, classified and SLA-checked.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(rules.app, name="rules")
run_command.register(app)
demo_command.register(app)
daemon_commands.register(app)
ops.register(app)
report_command.register(app)


def main() -> None:
    app()
