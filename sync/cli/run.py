"""The work of `crmsync run` (declared in sync.cli.commands): the daemon, until SIGTERM or Ctrl-C, which
finish or checkpoint the batch in flight.

Order matters:
1. logging is configured first, so even a problem reading the settings is a proper log line;
2. the settings are loaded and logging is configured again as they say (level, JSON or console);
3. the rules are loaded: a bad rules file at start exits 3 with its located messages (the daemon cannot
   decide anything without good rules); later edits are hot-reloaded and a bad one is rejected while the
   last good rules stay in force;
4. the state store and the accounts are opened (sandbox accounts start their sandbox in-process);
5. the daemon runs; its exit code is the command's (0 after a graceful stop, 1 if runs in flight
   outlived the shutdown bound).

Every refusal to start is printed on stderr (verbatim: an admin copies `PATH:LINE:COL` into an editor) and
logged, with the exit code sync.cli.exits gives that problem everywhere: 3 settings or rules, 4 state
store (a second daemon on one SQLite file included), 6 not installed, 1 anything else (the HTTP port taken, no account could be opened).
"""

from __future__ import annotations

from pathlib import Path

import structlog
import typer
from sqlalchemy.engine import make_url

from sync import registry
from sync.cli.exits import ExitCode, Failure
from sync.cli.failures import config_lines
from sync.clock import SystemClock
from sync.daemon.reload import RulesWatcher
from sync.daemon.service import build_service, rules_watcher
from sync.errors import ConfigError
from sync.log import configure_logging
from sync.settings import Settings, config_path, load_settings
from sync.state.problems import classify_store_error
from sync.state.single import StoreInUse

log = structlog.get_logger("crmsync.run")


def _cannot_start(code: ExitCode, lines: list[str], event: str, **fields: object) -> Failure:
    """Say why on stderr (through the Failure) and in the log."""
    log.error(event, issues=lines, exit_code=int(code), **fields)
    return Failure(code, *lines)


def configure_from(settings: Settings) -> None:
    """Logging as the settings say; `auto` is JSON unless stderr is a terminal."""
    fmt = settings.logging.format
    configure_logging(level=settings.logging.level, json=None if fmt == "auto" else fmt == "json")


def load(config: Path | None) -> tuple[Settings, RulesWatcher[registry.RulesLike]]:
    """Settings then rules, each failure turned into its exit code with its located messages."""
    path = config_path(config)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        from sync.cli.failures import explain

        code, lines = explain(exc)
        raise _cannot_start(code, lines, "settings_rejected", path=str(path)) from None
    configure_from(settings)
    try:
        watcher = rules_watcher(settings, SystemClock())
    except ConfigError as exc:
        raise _cannot_start(ExitCode.CONFIG, config_lines(exc), "rules_rejected",
                            path=str(settings.rules.path or "<embedded default>")) from None
    except registry.NotInstalled as exc:
        raise _cannot_start(ExitCode.NOT_INSTALLED, [f"the rules engine cannot be loaded: {exc}"],
                            "rules_unavailable") from None
    return settings, watcher


def run(config: Path | None) -> None:
    configure_logging()
    settings, watcher = load(config)
    try:
        service = build_service(settings, watcher=watcher, clock=SystemClock())
    except StoreInUse as exc:  # a second daemon on one SQLite file: replicas need PostgreSQL
        raise _cannot_start(ExitCode.STATE_STORE, [exc.user_message], "daemon_not_started",
                            store_problem="in_use") from None
    except Exception as exc:  # noqa: BLE001 (the state store or the HTTP port: say which, never a traceback)
        problem = classify_store_error(exc, settings.state.url)
        if problem is not None:
            raise _cannot_start(ExitCode.STATE_STORE, [problem.message], "daemon_not_started",
                                store_problem=problem.kind.value) from None
        raise _cannot_start(ExitCode.FAILED, [f"cannot start: {type(exc).__name__}: {exc}"],
                            "daemon_not_started") from None
    with service:
        if not service.runners:
            raise _cannot_start(ExitCode.FAILED, ["no account could be opened: see the account_not_opened lines "
                                                  "above"], "daemon_not_started")
        log.info("daemon_configured", config=settings.source,
                 accounts=[runner.key for runner in service.runners],
                 state=_redacted(settings.state.url), rules_version=getattr(watcher.current, "version", ""))
        code = service.daemon.run()
    raise typer.Exit(code)


def _redacted(url: str) -> str:
    """The state store URL as logged: backend and database, never a user or host detail."""
    parsed = make_url(url)
    return f"{parsed.get_backend_name()}:{parsed.database or ''}"
