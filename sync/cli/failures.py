"""Which exception means which exit code, and the message it prints: see `sync.cli.exits`.

Imported only once a command has failed, so it may import what the engine raises.
"""

from __future__ import annotations

import errno
import os
import traceback

from sync.cli.exits import TRACEBACK_ENV, ExitCode
from sync.errors import ConfigError, UnreadableFile
from sync.registry import NotInstalled
from sync.state.problems import StateStoreUnavailable

_FILE_PROBLEMS = {errno.ENOENT: "does not exist", errno.ENOTDIR: "is not in a folder (a part of the path is a file)",
                  errno.EISDIR: "is a folder, not a file", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied", errno.EROFS: "is on a read-only filesystem",
                  errno.ENOSPC: "disk full", errno.EDQUOT: "disk full (quota exceeded)",
                  errno.EEXIST: "already exists"}


def config_lines(error: ConfigError) -> list[str]:
    """Every located problem, then how many and in which file."""
    lines = [str(issue) for issue in error.issues] or [error.user_message]
    if error.issues:
        count = len(error.issues)
        files = sorted({issue.path for issue in error.issues})
        lines.append(f"{count} problem{'s' * (count != 1)} in {', '.join(files)}")
    return lines


def explain(exc: BaseException) -> tuple[ExitCode, list[str]]:
    """The exit code and the lines to print for an exception that ended a command."""
    if isinstance(exc, UnreadableFile):
        return ExitCode.FILE, [str(issue) for issue in exc.issues]
    if isinstance(exc, ConfigError):
        return ExitCode.CONFIG, config_lines(exc)
    if isinstance(exc, StateStoreUnavailable):
        return ExitCode.STATE_STORE, [exc.user_message]
    if isinstance(exc, NotInstalled):
        return ExitCode.NOT_INSTALLED, [f"not installed: {exc}: reinstall crmsync with its dependencies "
                                        "(`pip install crmsync` in its virtual environment)"]
    if isinstance(exc, ImportError):
        name = exc.name or str(exc)
        return ExitCode.NOT_INSTALLED, [f"crmsync needs the Python package {name!r}, which cannot be imported "
                                        f"({exc}): reinstall crmsync with its dependencies (`pip install "
                                        "crmsync` in its virtual environment)"]
    if isinstance(exc, OSError) and exc.filename is not None:
        what = _FILE_PROBLEMS.get(exc.errno or 0, exc.strerror or "cannot be used")
        return ExitCode.FILE, [f"{os.fsdecode(exc.filename)}: {what}"]
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return ExitCode.INTERNAL, [f"internal error: {type(exc).__name__}{at}: {first}",
                               f"this is a bug in crmsync: please report it, with the traceback that "
                               f"{TRACEBACK_ENV}=1 shows"]
