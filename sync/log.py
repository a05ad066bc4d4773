"""structlog, configured once, first thing in `main`.

JSON lines when stderr is not a terminal (the container), coloured key=value
on a terminal. Every secret the settings loader resolves is registered here
and masked out of every log line, whatever key or message it hides in; keys
that name credentials are masked whatever their value. Third-party loggers
(urllib3, hubspot, simple_salesforce, httpx) are held at WARNING.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
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


def _scrub(value: Any, secrets: Iterable[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: (MASK if str(k).lower() in _SENSITIVE_KEYS else _scrub(v, secrets)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, secrets) for v in value)
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


def configure_logging(*, json: bool | None = None, level: str = "INFO", stream: Any = None) -> None:
    stream = stream if stream is not None else sys.stderr
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    for noisy in ("urllib3", "hubspot", "simple_salesforce", "httpx", "httpcore", "zeep", "apscheduler",
                  "werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
