"""Opening the SQLite file: how (read-write, read-only, immutable) and the transactions.

Readers open read-only: ``vlmtop sessions``, ``replay``, ``export`` and ``compare`` must
work on a database copied to a read-only share, or a 0444 file. Three cases, tried for
real (tests/test_store_readonly.py):

* the file and its folder are writable: an ordinary connection with ``PRAGMA
  query_only``, so SQLite's WAL housekeeping (``-wal``/``-shm`` removed on close) still
  happens and no statement can write;
* they are not: ``mode=ro``. In WAL mode SQLite still needs the ``-shm`` file; it can use
  one that exists, but cannot create one in a read-only folder ("unable to open database
  file");
* then ``immutable=1``: no lock, no ``-shm``. It is right only when nothing can change the
  file, which holds in a read-only folder, and when no ``-wal`` with content lies beside
  it (immutable reads ignore it): that case is refused in one line instead.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vlmtop.sessions.store_errors import ReadOnlyStoreError, StoreError

BUSY_TIMEOUT_S = 5.0  # how long a writer waits for another writer's lock


def uri(path: Path, mode: str, immutable: bool = False) -> str:
    query = f"mode={mode}" + ("&immutable=1" if immutable else "")
    return f"file:{urllib.parse.quote(str(path.resolve()))}?{query}"


def wal_pending(path: Path) -> bool:
    """Whether a write-ahead log with content lies beside ``path`` (changes not in it yet)."""
    wal = Path(f"{path}-wal")
    return wal.exists() and wal.stat().st_size > 0


def location_writable(path: Path) -> bool:
    """Whether this process may write ``path`` and create its ``-wal``/``-shm`` beside it.
    access() also answers False on a read-only mount or an immutable (chattr +i) file."""
    folder = path.parent if str(path.parent) else Path(".")
    target = path if path.exists() else folder
    return os.access(target, os.W_OK) and os.access(folder, os.W_OK)


def _connect(address: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        address,
        uri=True,
        timeout=BUSY_TIMEOUT_S,  # SQLite's busy_timeout: a second writer waits its turn
        # Statements run in autocommit; the store opens its transactions explicitly.
        isolation_level=None,
        # Created on one thread, polled from a dashboard worker thread.
        check_same_thread=False,
    )
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opening is lazy: open now
    return conn


def connect_writable(path: Path, create: bool) -> sqlite3.Connection:
    conn = _connect(uri(path, "rwc" if create else "rw"))
    # NORMAL in WAL mode: a commit is in the WAL file when it returns, so it survives any
    # process dying (the guarantee the worker needs); only a power cut may lose the last
    # few, and never corrupts the file. FULL would fsync per sample: ~40x the write cost.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, str]:
    """A connection that cannot write, and why the store is read-only (for messages)."""
    if location_writable(path):
        conn = _connect(uri(path, "rw"))
        conn.execute("PRAGMA query_only = ON")
        return conn, "opened for reading only"
    why = "the file or its folder is read-only"
    try:
        return _connect(uri(path, "ro")), why
    except sqlite3.OperationalError:
        if wal_pending(path):
            raise StoreError(
                f"cannot read {path}: its write-ahead log {path.name}-wal holds changes, and "
                f"its folder is read-only; copy both files to a writable folder"
            ) from None
    return _connect(uri(path, "ro", immutable=True)), why


class SqliteFile:
    """One open connection to a session database file, and how to write to it safely."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly_reason: str | None):
        self.path = path
        self._conn = conn
        self._readonly_reason = readonly_reason

    @property
    def readonly(self) -> bool:
        return self._readonly_reason is not None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refuse_if_readonly(self) -> None:
        if self._readonly_reason is not None:
            raise ReadOnlyStoreError(
                f"cannot write to {self.path}: {self._readonly_reason}; this needs a writable "
                f"session database (copy the file to a writable folder, or pass --db)"
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._refuse_if_readonly()
        # IMMEDIATE takes the write lock up front, so a read-then-write never fails with
        # SQLITE_BUSY halfway; the busy timeout makes a second writer wait its turn.
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked past the timeout, read-only media
            raise StoreError(f"cannot write to {self.path}: {exc}") from exc
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _dicts(self, sql: str, params: Any = ()) -> list[dict]:
        cur = self._conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _has_table(self, table: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return row is not None
