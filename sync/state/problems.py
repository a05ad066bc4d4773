"""Why the state store cannot be used, in words an operator can act on.

A driver error says `unable to open database file` or `connection failed: ... Connection refused`; what
the operator needs is which store, what is wrong with it and what to do. `classify_store_error` turns any
exception met while opening or using the store into a `StoreProblem` (or None when the exception has
nothing to do with the store), looking at the driver's error code first and then, for a SQLite file, at
the folder that holds it: does it exist, is it writable, is there space left. The CLI prints the
problem's message; the daemon's readiness check reports it; both say "disk full" for the same full disk.

Nothing secret is ever in a message: a PostgreSQL URL is shown without its user and password.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from sync.errors import CrmsyncError

# SQLite result codes (https://www.sqlite.org/rescode.html), primary codes only
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
# PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"
_PG_AUTH = ("28000", "28P01")
_PG_NO_DATABASE = "3D000"
_PG_TIMED_OUT = ("57014", "55P03")  # query_canceled (statement_timeout), lock_not_available (lock_timeout)


class StoreProblemKind(enum.StrEnum):
    UNREACHABLE = "unreachable"  # nothing answers at the configured address, or it refused the connection
    REFUSED = "refused"  # the server answered but refused the credentials or does not have the database
    READ_ONLY = "read-only"  # the file, its folder or the server only allows reading
    MISSING_FOLDER = "missing folder"  # the SQLite file's folder does not exist and cannot be created
    DISK_FULL = "disk full"  # no space left where the store writes
    TIMED_OUT = "timed out"  # a statement waited past the lock or statement timeout (a lock held elsewhere)
    OTHER = "error"  # any other driver error: its own first line is shown


@dataclass(frozen=True, slots=True)
class StoreProblem:
    kind: StoreProblemKind
    store: str  # the SQLite path, or the PostgreSQL URL without credentials
    message: str  # one line: the store, what is wrong, what to do

    def __str__(self) -> str:
        return self.message


class StateStoreUnavailable(CrmsyncError):
    """The state store cannot be opened or used; `problem` says why."""

    def __init__(self, problem: StoreProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def describe_store(url: str | URL) -> str:
    """The store as shown to an operator: a SQLite file's path, or a server URL with no user or password."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "(an invalid state.url)"
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        return database if database == ":memory:" else os.path.expandvars(os.path.expanduser(database))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()}://{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def _is_sqlite(url: str | URL) -> bool:
    try:
        return (make_url(url) if isinstance(url, str) else url).get_backend_name() == "sqlite"
    except ArgumentError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _driver_error(exc: BaseException) -> BaseException:
    """The DB-API exception under SQLAlchemy's wrapper (or the exception itself)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.orig is not None:
            return seen.orig
        seen = seen.__cause__ or seen.__context__
    return exc


def _folder_state(path: Path) -> StoreProblemKind | None:
    """What is wrong with the folder a SQLite file lives in, seen from the filesystem."""
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        stats = os.statvfs(existing)
    except OSError:
        stats = None
    if stats is not None and stats.f_flag & os.ST_RDONLY:
        return StoreProblemKind.READ_ONLY
    if not folder.is_dir():
        return StoreProblemKind.MISSING_FOLDER
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return StoreProblemKind.READ_ONLY
    if stats is not None and stats.f_bavail * stats.f_frsize < 64 * 1024:
        return StoreProblemKind.DISK_FULL
    return None


def _why_read_only(path: Path) -> str:
    target = path if path.exists() else path.parent
    try:
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return f"{target} is on a read-only filesystem"
    except OSError:
        pass
    return f"{target} cannot be written by this user"


_OS_KINDS = {errno.ENOSPC: StoreProblemKind.DISK_FULL, errno.EDQUOT: StoreProblemKind.DISK_FULL,
             errno.EROFS: StoreProblemKind.READ_ONLY, errno.EACCES: StoreProblemKind.READ_ONLY,
             errno.EPERM: StoreProblemKind.READ_ONLY, errno.ENOENT: StoreProblemKind.MISSING_FOLDER,
             errno.ENOTDIR: StoreProblemKind.MISSING_FOLDER, errno.EEXIST: StoreProblemKind.MISSING_FOLDER}


def _sqlite_kind(driver: BaseException, path: Path) -> StoreProblemKind:
    if isinstance(driver, OSError) and driver.errno in _OS_KINDS:
        return _OS_KINDS[driver.errno]
    code = getattr(driver, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_FULL:
        return StoreProblemKind.DISK_FULL
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreProblemKind.TIMED_OUT
    seen = _folder_state(path)
    if primary == _SQLITE_READONLY:
        return seen or StoreProblemKind.READ_ONLY
    if primary in (_SQLITE_CANTOPEN, _SQLITE_IOERR) or seen is not None:
        return seen or StoreProblemKind.OTHER
    return StoreProblemKind.OTHER


def _server_kind(driver: BaseException) -> StoreProblemKind:
    if isinstance(driver, OSError) and driver.errno in _OS_KINDS:
        return _OS_KINDS[driver.errno]
    state = getattr(driver, "sqlstate", None)
    if state == _PG_DISK_FULL:
        return StoreProblemKind.DISK_FULL
    if state == _PG_READ_ONLY:
        return StoreProblemKind.READ_ONLY
    if state in _PG_TIMED_OUT:
        return StoreProblemKind.TIMED_OUT
    if state in _PG_AUTH or state == _PG_NO_DATABASE:
        return StoreProblemKind.REFUSED
    if state is None and type(driver).__name__ == "OperationalError":
        return StoreProblemKind.UNREACHABLE  # psycopg: a connection that never got a server answer
    return StoreProblemKind.OTHER


def _about(error: OSError, where: str, url: str | URL) -> bool:
    """Whether an operating-system error concerns the store: a SQLite file, its folder or an ancestor the
    engine tried to create (an OSError from anything else, a CRM connection say, is not the store's)."""
    if not _is_sqlite(url) or where == ":memory:" or error.filename is None:
        return False
    named, folder = os.path.abspath(os.fsdecode(error.filename)), os.path.abspath(os.path.dirname(where))
    return folder == named or folder.startswith(named.rstrip(os.sep) + os.sep) or named.startswith(folder + os.sep)


def _reason(driver: BaseException) -> str:
    """The driver's own words, shortened to their last clause ("Connection refused")."""
    if isinstance(driver, OSError) and driver.strerror:
        return driver.strerror
    line = _first_line(driver)
    return line.rsplit(": ", 1)[-1].strip().rstrip(".") or line


def classify_store_error(exc: BaseException, url: str | URL) -> StoreProblem | None:
    """Why the store at `url` failed with `exc`; None when `exc` is not a state-store error at all.

    The readiness check of the daemon and every CLI command use this, so a full disk reads "disk full"
    in both."""
    driver = _driver_error(exc)
    where = describe_store(url)
    if isinstance(driver, OSError):
        if not _about(driver, where, url):
            return None
    elif not (isinstance(exc, SQLAlchemyError) or isinstance(driver, sqlite3.Error)
              or type(driver).__module__.startswith("psycopg")):
        return None
    if _is_sqlite(url) and where != ":memory:":
        path = Path(where)
        kind = _sqlite_kind(driver, path)
        folder = path.parent
        if kind is StoreProblemKind.READ_ONLY and not folder.is_dir():
            kind = StoreProblemKind.MISSING_FOLDER  # it would have been created, but where it goes is read-only
        messages = {
            StoreProblemKind.DISK_FULL: f"state store {where}: disk full (no space left on the filesystem of "
                                        f"{folder}): free some space, or point state.url at a larger disk",
            StoreProblemKind.READ_ONLY: f"state store {where}: read-only ({_why_read_only(path)}): make it "
                                        f"writable, or point state.url at a writable folder",
            StoreProblemKind.MISSING_FOLDER: f"state store {where}: the folder {folder} does not exist and cannot "
                                             f"be created ({_reason(driver)}): create it, or fix state.url",
            StoreProblemKind.TIMED_OUT: f"state store {where}: timed out waiting for a lock another connection "
                                        f"holds ({_first_line(driver)}): find the process holding the file "
                                        f"(state.lock_timeout bounds the wait)",
            StoreProblemKind.OTHER: f"state store {where}: {_first_line(driver)}: check the file, or point "
                                    f"state.url at another one",
        }
        return StoreProblem(kind, where, messages.get(kind, messages[StoreProblemKind.OTHER]))
    kind = _server_kind(driver)
    messages = {
        StoreProblemKind.UNREACHABLE: f"state store {where} is not reachable ({_reason(driver)}): start the "
                                      f"database, or fix state.url",
        StoreProblemKind.REFUSED: f"state store {where} refused the connection ({_reason(driver)}): check the "
                                  f"user in state.url, PGPASSWORD and the database name",
        StoreProblemKind.READ_ONLY: f"state store {where} is read-only (a standby or a read-only transaction): "
                                    f"point state.url at the primary",
        StoreProblemKind.DISK_FULL: f"state store {where}: disk full on the database server: free space there",
        StoreProblemKind.TIMED_OUT: f"state store {where}: timed out ({_first_line(driver)}): another session "
                                    f"holds a lock, or the server is overloaded; see pg_stat_activity "
                                    f"(state.lock_timeout and state.statement_timeout bound the wait)",
        StoreProblemKind.OTHER: f"state store {where}: {_first_line(driver)}",
    }
    return StoreProblem(kind, where, messages.get(kind, messages[StoreProblemKind.OTHER]))


@contextlib.contextmanager
def store_errors(url: str | URL) -> Iterator[None]:
    """Inside this block a state-store failure is raised as `StateStoreUnavailable` naming the problem."""
    try:
        yield
    except StateStoreUnavailable:
        raise
    except Exception as exc:
        problem = classify_store_error(exc, url)
        if problem is None:
            raise
        raise StateStoreUnavailable(problem) from exc


__all__ = ["StateStoreUnavailable", "StoreProblem", "StoreProblemKind", "classify_store_error",
           "describe_store", "store_errors"]
