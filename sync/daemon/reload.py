"""Hot reload of the rules file: new rules take effect only if they load; a bad file never stops the daemon.

Why polling a content hash and not inotify: file-change notifications do not reach a process watching a
path on many container volume mounts. A Kubernetes ConfigMap update swaps a `..data` symlink in the
mounted directory (the watched inode never changes), Docker Desktop bind mounts from macOS or Windows
go through a file-sharing layer that drops events, and NFS / SMB volumes have none at all. Reading a
small YAML file every few seconds and hashing it costs nothing and works everywhere; hashing the
content rather than trusting the modification time also ignores a `touch` and catches an edit that kept
the mtime (a copy with `cp -p`, a coarse-grained filesystem clock).

A file that fails to load is logged once per distinct content with the exact messages of
`crmsync rules check` (`PATH:LINE:COL: message`, from `ConfigError.issues`) and shown in readiness,
while the last good rules stay in force.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

import structlog

from sync.clock import Clock, SystemClock
from sync.daemon.readiness import CheckResult
from sync.errors import ConfigError

R = TypeVar("R")
log = structlog.get_logger("crmsync.daemon.reload")
DEFAULT_POLL = timedelta(seconds=5)


def _digest(path: Path) -> str:
    """The content hash of the file; a read failure is a state of its own, so the loader reports it."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"


def _version(rules: object) -> str:
    return str(getattr(rules, "version", "") or "")


class RulesWatcher(Generic[R]):
    """Holds the rules in force and swaps in a new version when the file changes and loads.

    `loader(path)` is `sync.rules.load_rules` in production: it returns compiled rules or raises
    `ConfigError`. With `path=None` the loader's embedded default is used and there is nothing to watch.
    `load()` must succeed once at start (a bad file at start is a configuration error the admin fixes
    before the daemon schedules anything); afterwards `check()` runs on the scheduler every `poll`.
    `on_change` callbacks receive each newly applied rules object; `on_result(applied)` is told the
    outcome of every reload attempt (the metrics use it).
    """

    def __init__(self, path: str | Path | None, loader: Callable[[Path | None], R], clock: Clock | None = None,
                 *, poll: timedelta = DEFAULT_POLL, on_change: Sequence[Callable[[R], None]] = (),
                 on_result: Callable[[bool], None] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.poll = poll
        self._loader = loader
        self._clock = clock or SystemClock()
        self._on_change = list(on_change)
        self._on_result = [on_result] if on_result is not None else []
        self._lock = threading.Lock()
        self._current: R | None = None
        self._loaded_at: datetime | None = None
        self._seen: str | None = None  # digest of the last content we tried, good or bad
        self._rejected: tuple[str, ...] | None = None  # the located issues of the file waiting for a fix
        self._rejected_at: datetime | None = None

    def subscribe(self, *, on_change: Callable[[R], None] | None = None,
                  on_result: Callable[[bool], None] | None = None) -> None:
        """Add a callback for applied rules, and one for the outcome (applied or not) of each reload."""
        if on_change is not None:
            self._on_change.append(on_change)
        if on_result is not None:
            self._on_result.append(on_result)

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> R:
        """The rules in force. Raises before the first successful `load()`."""
        current = self._current
        if current is None:
            raise RuntimeError("rules not loaded yet: call RulesWatcher.load() at start")
        return current

    def load(self) -> R:
        """The first load. Raises `ConfigError` on a bad file, with every located issue."""
        digest = _digest(self.path) if self.path is not None else None
        rules = self._loader(self.path)
        self._apply(rules, digest)
        log.info("rules_loaded", path=str(self.path or "<embedded default>"), rules_version=_version(rules))
        return rules

    def check(self) -> bool:
        """Poll once: True when a changed file loaded and is now in force. Never raises."""
        if self.path is None:
            return False
        digest = _digest(self.path)
        if digest == self._seen:
            return False
        try:
            rules = self._loader(self.path)
        except ConfigError as exc:
            self._reject([str(issue) for issue in exc.issues] or [exc.user_message], digest)
            return False
        except Exception as exc:  # a loader bug must not kill the scheduler thread, nor the rules in force
            log.exception("rules_loader_crashed", path=str(self.path), error_type=type(exc).__name__)
            self._reject([f"{self.path}: the rules loader failed ({type(exc).__name__}); see the log"], digest)
            return False
        previous = _version(self._current)
        self._apply(rules, digest)
        log.info("rules_reloaded", path=str(self.path), rules_version=_version(rules), previous_version=previous)
        for report in self._on_result:
            report(True)
        for callback in self._on_change:
            callback(rules)
        return True

    def _apply(self, rules: R, digest: str | None) -> None:
        with self._lock:
            self._current = rules
            self._seen = digest
            self._loaded_at = self._clock.now()
            self._rejected = None
            self._rejected_at = None

    def _reject(self, issues: list[str], digest: str) -> None:
        with self._lock:
            self._seen = digest
            self._rejected = tuple(issues)
            self._rejected_at = self._clock.now()
        log.error("rules_rejected", path=str(self.path), issues=issues,
                  rules_version_in_force=_version(self._current), message="\n".join(issues))
        for report in self._on_result:
            report(False)

    def status(self) -> CheckResult:
        """Readiness of the rules: ok while the file on disk is the one in force."""
        with self._lock:
            if self._current is None:
                return CheckResult(False, "rules not loaded")
            version = _version(self._current)
            if self._rejected is not None:
                return CheckResult(False, f"rules file rejected; version {version or '?'} stays in force",
                                   details=self._rejected, checked_at=self._rejected_at)
            return CheckResult(True, f"rules version {version or '?'} in force", checked_at=self._loaded_at)

    def readiness(self) -> dict[str, CheckResult]:
        return {"rules": self.status()}
