"""`crmsync rules ...`: check, explain, test and diff the admin's rules file."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check, explain, test and diff scoring and classification rules.", no_args_is_help=True)
