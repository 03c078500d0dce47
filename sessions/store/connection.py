"""Opening the SQLite file: how (read-write, read-only, immutable) and the transactions.

Readers open read-only: ``vlmtop sessions``, ``replay``, ``export`` and ``compare`` must
work on a database copied to a read-only share, or a 0444 file. Three cases, tried for
real (tests/sessions/store/test_read_only_media.py):

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
import shutil
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vlmtop.sessions.store.errors import (
    NotASessionDatabaseError,
    ReadOnlyStoreError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreWriteError,
)

# How long a statement waits for another program's lock: SQLite's busy handler retries
# within it, and BEGIN IMMEDIATE retries itself when SQLite gives up early (SQLITE_BUSY
# without the handler, e.g. during WAL recovery). A worker never drops a sample over a
# lock held this briefly; one held longer is a clean StoreLockedError.
BUSY_TIMEOUT_S = 5.0
# A recording waits this long for another program's write lock (its progress line saying
# so, see SqliteFile.lock_wait_s) before it gives up: an sqlite3 shell left in a
# transaction for a minute must not end a run that has measured for an hour.
RECORDING_LOCK_WAIT_S = 600.0
LOCK_WAIT_ENV = "VLMTOP_LOCK_WAIT_S"  # another wait, in seconds (a CI job that must not hang)

# What sqlite3 itself raises past the store's checks (a page damaged mid-read, a disk gone):
# readers on other threads catch it by this name, so that only the store imports sqlite3.
SQLiteError = sqlite3.Error


def recording_lock_wait_s() -> float:
    """RECORDING_LOCK_WAIT_S, or $VLMTOP_LOCK_WAIT_S where that is a number of seconds > 0."""
    try:
        seconds = float(os.environ.get(LOCK_WAIT_ENV, ""))
    except ValueError:
        return RECORDING_LOCK_WAIT_S
    return seconds if 0 < seconds < 1e6 else RECORDING_LOCK_WAIT_S


def free_space(path: Path) -> str:
    """Free space on the filesystem holding ``path``, for messages ("1.2 MB free")."""
    try:
        free = shutil.disk_usage(path.parent if str(path.parent) else ".").free
    except OSError:
        return "free space unknown"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if free < 1000 or unit == "TB":
            return f"{free:.0f} {unit} free" if unit == "bytes" else f"{free:.1f} {unit} free"
        free /= 1000
    return ""  # unreachable


def translate(exc: sqlite3.Error, path: Path) -> Exception:
    """The one-line store error for SQLite's fault codes (full, I/O, locked, corrupt);
    ``exc`` itself for any other error, which is a bug to see, not a fault to report."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return exc
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return StoreFullError(
            f"{path} is full ({exc}): {free_space(path)} on its filesystem; nothing after "
            f"the last committed sample was written. Free space, or record with --db "
            f"elsewhere"
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StoreWriteError(
            f"I/O error on {path} ({exc}; {free_space(path)}): nothing after the last "
            f"committed sample was written"
        )
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreLockedError(
            f"{path} is locked: another program holds it (an open transaction in sqlite3, "
            f"a backup tool) and kept it past the wait allowed; close it and try again"
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return NotASessionDatabaseError(f"{path} is damaged and cannot be read as SQLite: {exc}")
    return exc


class _Connection(sqlite3.Connection):
    """An sqlite3 connection whose fault codes arrive as store errors, one line each,
    wherever a statement runs: every reader and writer of the store gets them for free."""

    vlmtop_path: Path = Path("?")

    def execute(self, *args):  # type: ignore[override]
        try:
            return super().execute(*args)
        except sqlite3.Error as exc:
            raise translate(exc, self.vlmtop_path) from exc

    def executemany(self, *args):  # type: ignore[override]
        try:
            return super().executemany(*args)
        except sqlite3.Error as exc:
            raise translate(exc, self.vlmtop_path) from exc


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


def _text(data: bytes) -> str | bytes:
    """SQLite TEXT as Python str; text that is not UTF-8 (SQLite stores what it is given:
    ``CAST(x'ff' AS TEXT)``) comes back as bytes, which the validators read as not text: the
    cell is unreadable and marked, where sqlite3's default raised for the whole read."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _connect(address: str, path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        address,
        uri=True,
        factory=_Connection,
        timeout=BUSY_TIMEOUT_S,  # SQLite's busy_timeout: a second writer waits its turn
        # Statements run in autocommit; the store opens its transactions explicitly.
        isolation_level=None,
        # Created on one thread, polled from a dashboard worker thread.
        check_same_thread=False,
    )
    conn.vlmtop_path = path
    conn.text_factory = _text
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opening is lazy: open now
    return conn


def connect_writable(path: Path, create: bool) -> sqlite3.Connection:
    conn = _connect(uri(path, "rwc" if create else "rw"), path)
    # NORMAL in WAL mode: a commit is in the WAL file when it returns, so it survives any
    # process dying (the guarantee the worker needs); only a power cut may lose the last
    # few, and never corrupts the file. FULL would fsync per sample: ~40x the write cost.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, str]:
    """A connection that cannot write, and why the store is read-only (for messages)."""
    if location_writable(path):
        conn = _connect(uri(path, "rw"), path)
        conn.execute("PRAGMA query_only = ON")
        return conn, "opened for reading only"
    why = "the file or its folder is read-only"
    try:
        return _connect(uri(path, "ro"), path), why
    except (sqlite3.OperationalError, StoreError):
        if wal_pending(path):
            raise StoreError(
                f"cannot read {path}: its write-ahead log {path.name}-wal holds changes, and "
                f"its folder is read-only; copy both files to a writable folder"
            ) from None
    return _connect(uri(path, "ro", immutable=True), path), why


class SqliteFile:
    """One open connection to a session database file, and how to write to it safely."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly_reason: str | None):
        self.path = path
        self._conn = conn
        self._readonly_reason = readonly_reason
        self._lock_wait_s = BUSY_TIMEOUT_S
        self._write_asked_at: float | None = None  # set while a write waits for its lock

    def lock_wait_s(self) -> float:
        """How long the write under way has waited for the write lock (0: none waits).
        Read from another thread (a progress bar) while this one is blocked in SQLite."""
        asked = self._write_asked_at
        return 0.0 if asked is None else time.monotonic() - asked

    @property
    def readonly(self) -> bool:
        return self._readonly_reason is not None

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection, for tools and tests that need raw SQL (a hand-made row, a
        PRAGMA, a bulk load). Prefer the methods: they hold the store's transactions,
        validation and read-only refusals, which raw SQL goes around."""
        return self._conn

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
        self._begin_immediate()
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            # After a full disk or an I/O error SQLite may have rolled back already, and
            # ROLLBACK itself may fail: the first error is the one to report.
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except (sqlite3.Error, StoreError):
                    pass
            raise

    def _begin_immediate(self) -> None:
        self._write_asked_at = time.monotonic()
        try:
            self._begin_immediate_until(self._write_asked_at + self._lock_wait_s)
        finally:
            self._write_asked_at = None

    def _begin_immediate_until(self, deadline: float) -> None:
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except StoreLockedError:
                # The busy handler already waited BUSY_TIMEOUT_S unless SQLite skipped it
                # (a busy WAL recovery): retry briefly, never past the deadline.
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
            except sqlite3.OperationalError as exc:  # read-only media
                raise StoreError(f"cannot write to {self.path}: {exc}") from exc

    def set_lock_wait(self, seconds: float) -> None:
        """How long statements wait for another program's lock (default BUSY_TIMEOUT_S)."""
        self._conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        self._lock_wait_s = seconds

    def _dicts(self, sql: str, params: Any = ()) -> list[dict]:
        cur = self._conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _has_table(self, table: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return row is not None
