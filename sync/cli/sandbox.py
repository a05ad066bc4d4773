"""`crmsync sandbox`: start the sandbox CRMs for manual use."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the sandbox command to the main app."""
