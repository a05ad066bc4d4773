"""The daemon's commands: run, resync, status, demo, config check."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the operations commands to the main app."""
