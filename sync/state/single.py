"""A SQLite store serves one daemon: a second `crmsync run` on the same file is refused at start.

SQLite has no row locks to share accounts with (`sync.state.leases` needs PostgreSQL's), so two daemons on one
file would both push every account. The first daemon holds an exclusive OS lock (`fcntl.flock`) on a lock file
beside the database for its whole life; the kernel drops it when the process ends, however it ends (SIGKILL
included), so a crash never leaves a stale lock behind. A `crmsync resync` that writes takes the same lock for its
duration (so it never writes beside a daemon, another resync, or a daemon started while it runs); `status` and
`resync --dry-run` write nothing and do not take it. The lock file says who holds it: `PID daemon` or `PID resync`.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Self

from sqlalchemy.engine import URL

from sync.errors import CrmsyncError
from sync.state.engine import normalise_url


class StoreInUse(CrmsyncError):
    """Another crmsync process (a daemon, or a resync writing) holds this SQLite file."""

    def __init__(self, database: Path, pid: str, holder: str) -> None:
        self.database, self.pid, self.holder = database, pid, holder
        if holder == "resync":
            message = (f"a crmsync resync (pid {pid}) is writing to the SQLite state store {database}: a SQLite store "
                       "serves one process at a time; start again once it has finished")
        else:
            message = (f"another crmsync daemon (pid {pid}) already runs on the SQLite state store {database}: a "
                       "SQLite store serves one process. To run replicas, use a PostgreSQL state store "
                       "(state.url: postgresql://USER@HOST:PORT/DB); they share the accounts between them.")
        super().__init__(message)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DaemonLock:
    """The exclusive lock of one daemon on its SQLite file; `release()` (or process exit) frees it."""

    def __init__(self, path: Path, handle: int) -> None:
        self.path = path
        self._handle: int | None = handle

    @classmethod
    def take(cls, url: str | URL, *, holder: str = "daemon") -> Self | None:
        """Lock the SQLite file of `url` for `holder` (`daemon` or `resync`); None for a store that needs no lock
        (PostgreSQL, in-memory SQLite). Raises `StoreInUse` when another process holds it."""
        parsed = normalise_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return None
        database = Path(parsed.database).resolve()
        path = lock_path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, held_by = os.pread(handle, 64, 0).decode(errors="replace").strip().partition(" ")
            os.close(handle)
            raise StoreInUse(database, pid or "unknown", held_by or "daemon") from None
        try:
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"{os.getpid()} {holder}".encode(), 0)
        except OSError as exc:  # a full disk: named after the lock file, so it reads as the store's problem
            os.close(handle)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        return cls(path, handle)

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing the descriptor drops the flock
            self._handle = None
