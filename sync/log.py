"""structlog, configured once, first thing in `main`.

JSON lines when stderr is not a terminal (the container), coloured key=value
on a terminal. Every secret the settings loader resolves is registered here
and masked out of every log line, whatever key or message it hides in; keys
that name credentials are masked whatever their value. Third-party loggers
(urllib3, hubspot, simple_salesforce, httpx) are held at WARNING. Every line names its logger
(`structlog.get_logger("crmsync.hubspot")` -> `"logger": "crmsync.hubspot"`), and loggers are assembled
once, on their first line (`cache_logger_on_first_use`), yet follow a later `configure_logging`.

The standard library's `logging` (what the SDKs, urllib3 and apscheduler use)
goes through the same processors, to the same stream: an SDK's warning is a
JSON line with the run's context like ours, and passes the same secret mask,
instead of reaching stderr raw through `logging.lastResort`.

A sync run binds its identity and a live view of its counts (`bind_run`), so
every line written while it runs, ours or a library's, from any module, says
which CRM, account and run it belongs to and how far the run has got.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import structlog

MASK = "***"
_SENSITIVE_KEYS = frozenset({
    "token", "access_token", "refresh_token", "api_token", "session_id", "password", "secret",
    "client_secret", "authorization", "private_key", "api_key",
})
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in a log line from now on. Short values are ignored: masking
    a 3-character string would shred ordinary text without protecting anything."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def forget_secrets() -> None:
    with _secrets_lock:
        _secrets.clear()


# A PostgreSQL error's DETAIL line quotes the row a statement failed on ("Failing row contains (...)",
# "Key (...)=(...)"): contact data. SQLAlchemy's own parameters are hidden at the engine (`hide_parameters`).
_ROW_DETAIL = re.compile(r"^DETAIL: .*$", re.MULTILINE)
ROW_DETAIL_HIDDEN = "DETAIL:  (hidden: it may quote contact data)"


def _scrub(value: Any, secrets: Iterable[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        if "DETAIL: " in value:
            value = _ROW_DETAIL.sub(ROW_DETAIL_HIDDEN, value)
        return value
    if isinstance(value, dict):
        return {key: (MASK if str(key).lower() in _SENSITIVE_KEYS else _scrub(item, secrets))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(item, secrets) for item in value)
    if isinstance(value, BaseException):
        return _scrub(str(value), secrets)
    return value


def mask_secrets(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence, applied after rendering exceptions to text."""
    secrets = sorted(_secrets, key=len, reverse=True)
    for key in list(event_dict):
        if key.lower() in _SENSITIVE_KEYS:
            event_dict[key] = MASK
        else:
            event_dict[key] = _scrub(event_dict[key], secrets)
    return event_dict


RUN_COUNTS = "run_counts"  # the context key holding a run's live counts (a callable), expanded per line
_RUN_KEYS = ("crm", "account", "run_id", RUN_COUNTS)


class LiveCounts:
    """A run's counts as of the moment a line is written (structlog context values are fixed when bound)."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def __call__(self) -> Mapping[str, int]:
        return self._counts()

    def __repr__(self) -> str:  # what a logger without `add_run_counts` (a test's capture) shows
        return repr(dict(self._counts()))


def bind_run(*, crm: str, account: str, run_id: str, counts: Callable[[], Mapping[str, int]]) -> None:
    """Tag every log line of this thread (until `unbind_run`) with the run's identity and current counts.
    `counts` is called per line, so each line shows the counts at the moment it was written."""
    structlog.contextvars.bind_contextvars(crm=crm, account=account, run_id=run_id,
                                           **{RUN_COUNTS: LiveCounts(counts)})


_PROCESS_FIELDS: dict[str, str] = {}


def bind_process(**fields: str) -> None:
    """Tag every log line of this process, from any thread, with `fields` (a replica's id). Context variables
    would not do: each scheduler thread starts with a context of its own."""
    _PROCESS_FIELDS.update(fields)


def add_process_fields(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in _PROCESS_FIELDS.items():
        event_dict.setdefault(key, value)
    return event_dict


def unbind_run() -> None:
    structlog.contextvars.unbind_contextvars(*_RUN_KEYS)


def add_run_counts(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: expand the bound `run_counts` into the line; counts the line states itself win."""
    counts = event_dict.pop(RUN_COUNTS, None)
    if callable(counts):
        for key, value in counts().items():
            event_dict.setdefault(key, value)
    return event_dict


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler `configure_logging` installs; marked so a second call replaces it, and only it."""


# -- structlog's side: loggers cached on first use that still follow a later configuration ----------------
#
# With `cache_logger_on_first_use`, a module's `structlog.get_logger(name)` is assembled once, on its first
# line, and keeps its logger, processors and level for good. So that `configure_logging` can still be
# called again (tests, a reload changing the level), what a cached logger holds is indirect: `_PROCESSORS`
# is one list changed in place, the level is read per line (`_LEVEL`), and `NamedLogger` writes to the
# current `_SINK`. A configuration installed over ours (`structlog.testing.capture_logs`, a reset) is
# followed too (`_follow_the_configuration`).


class _Sink:
    def __init__(self) -> None:
        self.stream: Any = None  # None: standard output, structlog's own default
        self.lock = threading.Lock()


_SINK = _Sink()
_LEVEL = {"threshold": logging.INFO}
_PROCESSORS: list[Any] = []


class NamedLogger:
    """The logger under every structlog line: prints the rendered line to the current sink and keeps the
    name it was created with (`structlog.get_logger("crmsync.hubspot")`), which `PrintLogger` drops."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        with _SINK.lock:
            stream = _SINK.stream if _SINK.stream is not None else sys.stdout
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = err = msg


def named_logger(*args: Any) -> NamedLogger:
    """structlog's logger factory: `get_logger(name)` passes the name here."""
    return NamedLogger(str(args[0]) if args and args[0] else "")


def add_logger_name(logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the logger's name on every line (`logger` key), as stdlib lines have it."""
    name = getattr(logger, "name", "")
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


def _follow_the_configuration(logger: Any, method_name: str,
                              event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """First of our processors: drops lines under the level, and hands the line to another configuration's
    processors when one was installed over ours since this logger was cached."""
    if _LEVEL_NUMBERS.get(method_name, logging.INFO) < _LEVEL["threshold"]:
        raise structlog.DropEvent
    current = structlog.get_config()["processors"]
    if current is _PROCESSORS:
        return event_dict
    rendered: Any = event_dict
    for processor in current:  # structlog.testing.LogCapture ends its chain with DropEvent
        rendered = processor(logger, method_name, rendered)
    logger.msg(rendered if isinstance(rendered, str) else repr(rendered))
    raise structlog.DropEvent


_LEVEL_NUMBERS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "warn": logging.WARNING, "error": logging.ERROR, "exception": logging.ERROR,
                  "critical": logging.CRITICAL, "fatal": logging.CRITICAL}


def reset_logging() -> None:
    """Undo `configure_logging` (tests that configured logging onto a stream that is about to close)."""
    structlog.reset_defaults()
    _SINK.stream = None
    _PROCESS_FIELDS.clear()
    _LEVEL["threshold"] = logging.NOTSET
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if isinstance(handler, _OurHandler)]:
        root.removeHandler(old)
    root.setLevel(logging.WARNING)  # the standard library's default
    logging.captureWarnings(False)


def configure_logging(*, json: bool | None = None, level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog and the standard library's logging, first thing in `main`; safe to call again."""
    stream = stream if stream is not None else sys.stderr
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_process_fields,
        add_run_counts,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    _SINK.stream = stream
    _LEVEL["threshold"] = logging.getLevelName(level.upper())
    _PROCESSORS[:] = [_follow_the_configuration, *shared, add_logger_name, structlog.processors.format_exc_info,
                      mask_secrets, renderer]
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),  # the level is `_LEVEL`
        logger_factory=named_logger,
        cache_logger_on_first_use=True,
    )
    handler = _OurHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, mask_secrets, renderer]))
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if isinstance(handler, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warnings.warn (e.g. urllib3's) becomes a masked log line too
    for noisy in ("urllib3", "hubspot", "simple_salesforce", "httpx", "httpcore", "zeep", "apscheduler",
                  "werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
