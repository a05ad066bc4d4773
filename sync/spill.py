"""Scratch space on disk for what a connector must remember about every record a pull passes.

Why: some things a connector keeps per contact, for a whole pull or for its whole life. Pipedrive lists deals
and activities account-wide, so it learns every person's history before it reads the persons; a push needs
the label ids (Pipedrive) or the lifecycle stage (HubSpot) last pulled; an incremental Salesforce pull must
not read again a parent it already emitted. Held in dicts and sets, that grows the process with the account
(about 2 KB a person for Pipedrive's history alone). Held in a private SQLite file it costs SQLite's page
cache (`cache_kib`) whatever the size of the account, and it is read by key, a page of contacts at a time.

A `Scratch` is one such file, in a directory of its own under the temporary directory (`TMPDIR`, or the
`directory` given). Nothing in it must survive the process, so it has no journal and never syncs; `close()`
removes it, and so do garbage collection and interpreter exit for one left open. A SIGKILL leaves a
`crmsync-*` directory behind; nothing reads it again. It is opened on first use, so an object that
never needs it never creates a file, and used after `close()` it starts again empty (what it holds is a
cache or one pull's working set: losing it costs at most a look-up again). Calls are serialised by a lock:
a connector's runs, sweeps and health checks may come from different threads (never two runs of one
account at once).

`ScratchMap`, `ScratchSet` and `ScratchBuckets` are the shapes the connectors need on top of it, read and
written by the page (`get_many`, `put_many`, `add_many`, `read`...) rather than one key at a time.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Key = TypeVar("Key", str, int)
Value = TypeVar("Value", str, bytes)
_CHUNK = 500  # keys per `IN (...)` or rows per statement: old SQLite builds accept 999 variables at most
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def chunks(items: Sequence[Item], size: int = _CHUNK) -> Iterator[Sequence[Item]]:
    """`items` in slices of `size`: the unit of an `IN (...)` list, here and in the state store."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _remove(holder: dict[str, Any]) -> None:
    """Close the connection and delete the directory (a finalizer: must not hold the `Scratch` itself)."""
    connection = holder.pop("connection", None)
    if connection is not None:
        connection.close()
    directory = holder.pop("directory", None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


class Scratch:
    """One private SQLite file on disk, removed on `close()`. Memory: the page cache, `cache_kib` KiB."""

    def __init__(self, *, directory: str | Path | None = None, cache_kib: int = 2048,
                 prefix: str = "crmsync-scratch-") -> None:
        self._where = str(directory) if directory is not None else None
        self._cache_kib = cache_kib
        self._prefix = prefix
        self._lock = threading.RLock()
        self._holder: dict[str, Any] = {}
        self._finalizer: weakref.finalize[[dict[str, Any]], None] | None = None
        self._made: set[str] = set()  # the `ensure` statements run on the file open now

    @property
    def path(self) -> Path | None:
        """The database file, or None while nothing was written."""
        directory = self._holder.get("directory")
        return Path(directory) / "scratch.sqlite" if directory else None

    def _connection(self) -> sqlite3.Connection:
        connection = self._holder.get("connection")
        if connection is None:
            self._holder = {}
            self._finalizer = weakref.finalize(self, _remove, self._holder)
            self._made = set()
            directory = tempfile.mkdtemp(prefix=self._prefix, dir=self._where)
            self._holder["directory"] = directory
            connection = sqlite3.connect(Path(directory) / "scratch.sqlite", isolation_level=None,
                                         check_same_thread=False)
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "temp_store = FILE",
                           f"cache_size = -{int(self._cache_kib)}"):
                connection.execute(f"PRAGMA {pragma}")
            self._holder["connection"] = connection
        return connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            connection = self._connection()
            connection.execute("BEGIN")
            try:
                connection.executemany(sql, rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def script(self, sql: str) -> None:
        with self._lock:
            self._connection().executescript(sql)

    def ensure(self, ddl: str) -> None:
        """Run `ddl` (a `CREATE ... IF NOT EXISTS`) once per file: again on the new file after a `close()`."""
        with self._lock:
            connection = self._connection()
            if ddl not in self._made:
                connection.executescript(ddl)
                self._made.add(ddl)

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _table(name: str) -> str:
    if not name or not set(name) <= _NAME_CHARS or name[0].isdigit():
        raise ValueError(f"not a plain table name: {name!r}")
    return name


class ScratchMap(Generic[Key, Value]):
    """A mapping kept in a table of a `Scratch`. Keys of one map are all str or all int (SQLite tells 1 from
    "1"); values are str or bytes. Written and read by the page."""

    def __init__(self, scratch: Scratch, name: str) -> None:
        self._scratch = scratch
        self._table = _table(name)

    def _create(self) -> None:
        self._scratch.ensure(f"CREATE TABLE IF NOT EXISTS {self._table} (k PRIMARY KEY, v) WITHOUT ROWID")

    def get(self, key: Key) -> Value | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Value]:
        self._create()
        found: dict[Key, Value] = {}
        for chunk in chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            found.update(self._scratch.execute(f"SELECT k, v FROM {self._table} WHERE k IN ({marks})", chunk))
        return found

    def put_many(self, items: Iterable[tuple[Key, Value]]) -> None:
        self._create()
        self._scratch.executemany(f"INSERT OR REPLACE INTO {self._table} (k, v) VALUES (?, ?)", items)

    def discard_many(self, keys: Iterable[Key]) -> None:
        self._create()
        self._scratch.executemany(f"DELETE FROM {self._table} WHERE k = ?", [(key,) for key in keys])

    def __len__(self) -> int:
        self._create()
        return int(self._scratch.execute(f"SELECT count(*) FROM {self._table}")[0][0])


class ScratchSet(Generic[Key]):
    """A set kept in a table of a `Scratch`, remembering the order keys were first added."""

    def __init__(self, scratch: Scratch, name: str) -> None:
        self._scratch = scratch
        self._table = _table(name)

    @property
    def scratch(self) -> Scratch:
        """The file it lives in: another set of the same file can be compared with it (`difference`)."""
        return self._scratch

    def _create(self) -> None:
        self._scratch.ensure(f"CREATE TABLE IF NOT EXISTS {self._table} (k UNIQUE)")

    def add_many(self, keys: Iterable[Key]) -> None:
        self._create()
        self._scratch.executemany(f"INSERT OR IGNORE INTO {self._table} (k) VALUES (?)", [(key,) for key in keys])

    def present(self, keys: Iterable[Key]) -> set[Key]:
        """Which of `keys` are in the set."""
        self._create()
        found: set[Key] = set()
        for chunk in chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            found.update(key for (key,) in self._scratch.execute(
                f"SELECT k FROM {self._table} WHERE k IN ({marks})", chunk))
        return found

    def __contains__(self, key: object) -> bool:
        self._create()
        return bool(self._scratch.execute(f"SELECT 1 FROM {self._table} WHERE k = ?", (key,)))

    def difference(self, other: ScratchSet[Key], *, prefix: str | None = None, page: int = 1000) -> Iterator[Key]:
        """The keys not in `other` (a set of the same `Scratch`), in the order they were first added, read
        `page` at a time; `prefix`: only the str keys that start with it."""
        if other._scratch is not self._scratch:
            raise ValueError("both sets must live in the same scratch file")
        self._create()
        other._create()
        where = "AND substr(k, 1, ?) = ?" if prefix else ""
        after = 0
        while True:
            rows = self._scratch.execute(
                f"SELECT rowid, k FROM {self._table} WHERE rowid > ? {where} "
                f"AND k NOT IN (SELECT k FROM {other._table}) ORDER BY rowid LIMIT ?",
                (after, *((len(prefix), prefix) if prefix else ()), page))
            yield from (key for _, key in rows)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def __len__(self) -> int:
        self._create()
        return int(self._scratch.execute(f"SELECT count(*) FROM {self._table}")[0][0])


class ScratchBuckets(Generic[Key]):
    """Rows of several kinds grouped by an owner key (a person's deals and activities, a Lead's Tasks and
    Events), kept in a table of a `Scratch`: added one by one, buffered and inserted `flush_every` at a time,
    read back by the page of owners in the order they were added. What a row holds is the caller's
    (`body`: its encoded record); the kind says how to decode it."""

    def __init__(self, scratch: Scratch, name: str, *, flush_every: int = 1000) -> None:
        self._scratch = scratch
        self._table = _table(name)
        self._flush_every = flush_every
        self._rows: list[tuple[Key, str, bytes]] = []

    def _create(self) -> None:
        self._scratch.ensure(f"CREATE TABLE IF NOT EXISTS {self._table} (owner NOT NULL, kind TEXT NOT NULL, "
                             f"body BLOB NOT NULL); CREATE INDEX IF NOT EXISTS {self._table}_owner "
                             f"ON {self._table} (owner)")

    def add(self, owner: Key, kind: str, body: bytes) -> None:
        self._rows.append((owner, kind, body))
        if len(self._rows) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._create()
            self._scratch.executemany(f"INSERT INTO {self._table} (owner, kind, body) VALUES (?, ?, ?)",
                                      self._rows)
            self._rows = []

    def read(self, owners: Sequence[Key], *, remove: bool = False) -> Iterator[tuple[Key, str, bytes]]:
        """The rows of these owners (listed once each), in the order they were added; `remove`: forget them
        once read (a parent mapped once a pull)."""
        self.flush()
        self._create()
        for chunk in chunks(list(dict.fromkeys(owners))):
            marks = ",".join("?" * len(chunk))
            rows = self._scratch.execute(
                f"SELECT owner, kind, body FROM {self._table} WHERE owner IN ({marks}) ORDER BY rowid", chunk)
            if remove:
                self._scratch.execute(f"DELETE FROM {self._table} WHERE owner IN ({marks})", chunk)
            yield from rows


__all__ = ["Scratch", "ScratchBuckets", "ScratchMap", "ScratchSet", "chunks"]
