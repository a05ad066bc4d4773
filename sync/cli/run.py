"""`crmsync run`: the daemon. Runs until SIGTERM or Ctrl-C, then finishes or checkpoints the batch in flight.

Order matters:
1. logging is configured first, so even a problem reading the settings is a proper log line;
2. the settings are loaded and logging is configured again as they say (level, JSON or console);
3. the rules are loaded: a bad rules file at start exits 1 with its located messages (the daemon cannot
   decide anything without good rules); later edits are hot-reloaded and a bad one is rejected while the
   last good rules stay in force;
4. the state store and the accounts are opened (sandbox accounts start their sandbox in-process);
5. the daemon runs; its exit code is the command's (0 after a graceful stop, 1 if runs in flight
   outlived the shutdown bound).

Exit codes: 0 stopped cleanly; 1 could not start (settings, rules, state store, no account) or the
shutdown bound was passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from sync import registry
from sync.clock import SystemClock
from sync.daemon.reload import RulesWatcher
from sync.daemon.service import build_service, rules_watcher
from sync.errors import ConfigError
from sync.log import configure_logging
from sync.settings import Settings, config_path, load_settings

log = structlog.get_logger("crmsync.run")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="settings file (default: $CRMSYNC_CONFIG, else the embedded default)")]


def _cannot_start(err: Console, lines: list[str], event: str, **fields: object) -> typer.Exit:
    """Say why on stderr, verbatim (an admin copies `PATH:LINE:COL` into an editor), and in the log."""
    for line in lines:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    log.error(event, issues=lines, **fields)
    return typer.Exit(1)


def configure_from(settings: Settings) -> None:
    """Logging as the settings say; `auto` is JSON unless stderr is a terminal."""
    fmt = settings.logging.format
    configure_logging(level=settings.logging.level, json=None if fmt == "auto" else fmt == "json")


def load(config: Path | None, err: Console) -> tuple[Settings, RulesWatcher[registry.RulesLike]]:
    """Settings then rules, each failure turned into exit 1 with its located messages."""
    path = config_path(config)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise _cannot_start(err, [str(i) for i in exc.issues] or [exc.user_message], "settings_rejected",
                            path=str(path)) from None
    configure_from(settings)
    try:
        watcher = rules_watcher(settings, SystemClock())
    except ConfigError as exc:
        raise _cannot_start(err, [str(i) for i in exc.issues] or [exc.user_message], "rules_rejected",
                            path=str(settings.rules.path or "<embedded default>")) from None
    except registry.NotInstalled as exc:
        raise _cannot_start(err, [f"the rules engine cannot be loaded: {exc}"], "rules_unavailable") from None
    return settings, watcher


def run(config: ConfigOption = None) -> None:
    """Run the sync daemon (every account on its schedule, SLA sweep, rules hot reload, /healthz /readyz
    /metrics) until SIGTERM or Ctrl-C, which finish the batch in flight."""
    err = Console(stderr=True)
    configure_logging()
    settings, watcher = load(config, err)
    try:
        service = build_service(settings, watcher=watcher, clock=SystemClock())
    except Exception as exc:  # noqa: BLE001 (the state store or the HTTP port: say which, never a traceback)
        raise _cannot_start(err, [f"cannot start: {type(exc).__name__}: {exc}"], "daemon_not_started") from None
    with service:
        if not service.runners:
            raise _cannot_start(err, ["no account could be opened: see the account_not_opened lines above"],
                                "daemon_not_started")
        log.info("daemon_configured", config=settings.source, accounts=[r.key for r in service.runners],
                 state=_redacted(settings.state.url), rules_version=getattr(watcher.current, "version", ""))
        code = service.daemon.run()
    raise typer.Exit(code)


def _redacted(url: str) -> str:
    """The state store URL as logged: backend and database, never a user or host detail."""
    parsed = make_url(url)
    return f"{parsed.get_backend_name()}:{parsed.database or ''}"


def register(app: typer.Typer) -> None:
    """Add `crmsync run` to the main app."""
    app.command("run")(run)
