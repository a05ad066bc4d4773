"""The `crmsync` command. `sync.cli.commands` declares every command (and imports only the CLI library); each
command's work lives in its own module (`rules`, `ops`, `run`, `demo`, `daemon`, `report`), imported when it
runs."""

from __future__ import annotations

from sync.cli.commands import app


def main() -> None:
    app()


__all__ = ["app", "main"]
