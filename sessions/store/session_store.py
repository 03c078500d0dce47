"""The session database: one SQLite file (WAL) holding many recorded sessions.

The worker writes through a :class:`SessionStore`; the dashboard, replay, export and
compare read through one. Tables (the README documents them for people opening the file
in sqlite3 or Datasette): ``sessions``, ``samples`` (one column per SampleRecord field),
``events`` and ``controls``.

The store is in parts, one job each (the package's ``__init__`` lists them); this module
opens a file and keeps the `sessions` table, and :class:`SessionStore` gathers the parts
that read and write the other tables as mixins over one connection.

SQL style: plain SQL through the standard library's sqlite3, everywhere. The store's
guarantees are transaction boundaries (an IMMEDIATE transaction per sample, the gapless
check inside it, refusal before any write), and written-out SQL shows them where a
wrapper would hide them; the DDL in schema.py is the schema the README documents. It also
spares every command the ~70 ms import of sqlite-utils. The file's own features do the
rest: ``application_id``, ``user_version``, ``busy_timeout``, ``query_only``, URI modes.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from vlmtop.sessions.records import MEASURED_SQL, SessionStatus
from vlmtop.sessions.store import schema
from vlmtop.sessions.store.connection import (
    BUSY_TIMEOUT_S,
    SqliteFile,
    connect_readonly,
    connect_writable,
    location_writable,
)
from vlmtop.sessions.store.controls import ControlChannel
from vlmtop.sessions.store.copying import SessionCopying
from vlmtop.sessions.store.errors import (
    AmbiguousSessionError,
    EmptyStoreError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotASessionDatabaseError,
    ReadOnlyStoreError,
    SessionNotRunningError,
    SessionRunningError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreNotFoundError,
    StoreWriteError,
    UnknownSessionError,
)
from vlmtop.sessions.store.fast_reads import RawReads, RecentReads
from vlmtop.sessions.store.liveness import ALIVE_SQL, STALE_HEARTBEAT_S, save_settled, settle
from vlmtop.sessions.store.lookup import Resolved, SessionLookup
from vlmtop.sessions.store.paths import special_file
from vlmtop.sessions.store.removal import Removed, SessionRemoval
from vlmtop.sessions.store.rows import (
    CONTROL_STATUSES,
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_KINDS,
    Control,
    SessionInfo,
    clean_row,
    encode_sample,
    json_settings,
    new_session_id,
    runtime_versions,
    select_sql,
    session_info,
)
from vlmtop.sessions.store.samples import RecordedRows
from vlmtop.sessions.store.schema import APPLICATION_ID, SCHEMA_VERSION, SQLITE_HEADER, VLMTOP_TABLES
from vlmtop.sessions.store.validate import Unreadable

__all__ = [
    "APPLICATION_ID", "ALIVE_SQL", "BUSY_TIMEOUT_S", "CONTROL_STATUSES", "MEASURED_SQL",
    "SAMPLE_COLUMNS", "SAMPLE_KINDS", "SCHEMA_VERSION", "SQLITE_HEADER",
    "STALE_HEARTBEAT_S", "VLMTOP_TABLES", "AmbiguousSessionError", "Control", "EmptyStoreError",
    "ForeignDatabaseError", "NewerSchemaError", "NotASessionDatabaseError",
    "ReadOnlyStoreError", "Removed", "Resolved", "SessionInfo", "SessionNotRunningError",
    "SessionRunningError", "SessionStore", "StoreError", "StoreFullError", "StoreLockedError",
    "StoreNotFoundError", "StoreWriteError",
    "UnknownSessionError", "encode_sample", "new_session_id", "runtime_versions",
]  # fmt: skip



class SessionStore(RecordedRows, RecentReads, RawReads, ControlChannel, SessionLookup, SessionRemoval, SessionCopying,
                   SqliteFile):
    """Reads and writes one session database file. Use one store per thread at a time,
    and close it (it is a context manager)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly_reason: str | None):
        super().__init__(path, conn, readonly_reason)
        self._hostname = socket.gethostname()
        self.unreadable = Unreadable()
        self._session_select = "*"

    def unreadable_note(self) -> str | None:
        """One line saying how many rows and values read so far were unreadable (and
        shown as missing), for a reading command to print on stderr; None if none were."""
        return self.unreadable.note(self.path)

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike, create: bool = True, readonly: bool | None = None
    ) -> SessionStore:
        """Open (or with ``create``, create) the database at ``path``.

        ``readonly``: True for commands that only read (works on read-only media, and no
        write can happen); False to require writing; None (default) writes where the file
        and its folder allow it and reads only elsewhere, so a write then fails in one line.

        Refuses, before writing anything, a missing file when not creating, a file that is
        not SQLite, another application's SQLite file and a newer schema.
        """
        path = Path(path).expanduser()
        special = special_file(path)
        if special:
            raise NotASessionDatabaseError(f"{path} is {special}, not a session database: give a file")
        create = create and not readonly
        if not path.exists():
            if not create:
                raise StoreNotFoundError(
                    f"no session database at {path}: record one with `vlmtop run`, "
                    f"or list the sessions of another file with `vlmtop sessions --db PATH`"
                )
            _make_folder(path.parent)
            _make_private_file(path)
        if create or readonly is False:
            if not location_writable(path):
                raise ReadOnlyStoreError(
                    f"cannot write to {path}: the file or its folder is read-only; choose a "
                    f"writable place with --db PATH or the VLMTOP_DB environment variable"
                )
        elif readonly is None:
            readonly = not location_writable(path)
        # Recognised from the header bytes, before SQLite opens it (see schema.py).
        initialise = schema.check_ours(path, create) if path.exists() else True
        try:
            if readonly:
                conn, reason = connect_readonly(path)
            else:
                conn, reason = connect_writable(path, create), None
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        store = cls(path, conn, reason)
        try:
            store._prepare_schema(create, initialise)
        except sqlite3.OperationalError as exc:  # locked, disk full, permissions...
            conn.close()
            raise StoreError(f"cannot open {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # an SQLite header over a corrupt body
            conn.close()
            raise NotASessionDatabaseError(f"{path} cannot be read as SQLite: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return store

    def _prepare_schema(self, create: bool, initialise: bool) -> None:
        schema.refuse_newer(self.path, schema.user_version(self._conn))  # it may be in the WAL
        if schema.needs_migration(self._conn):
            if self.readonly:
                # Missing columns read back as defaults, missing events or controls as
                # none; a file without its sessions or samples cannot be read.
                if not (self._has_table("sessions") and self._has_table("samples")):
                    raise StoreError(f"{self.path} needs a schema upgrade but is read-only")
            else:
                with self._transaction():
                    # Checked again under the write lock: another process may have just
                    # migrated it, or (an empty file) made it something else meanwhile.
                    ours = self._conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
                    still_empty = initialise and not self._conn.execute(
                        "SELECT count(*) FROM sqlite_master").fetchone()[0]
                    if not (ours or still_empty):
                        raise ForeignDatabaseError(
                            f"{self.path} was changed by another program while opening: "
                            f"not a vlmtop session database")
                    schema.migrate(self._conn)
        if create and not self.readonly:
            self._conn.execute("PRAGMA journal_mode = WAL")  # a no-op when it already is
        have = set(schema.table_columns(self._conn, "samples"))
        self._columns = tuple(name for name in SAMPLE_COLUMNS if name in have)
        self._session_select = select_sql(schema.table_columns(self._conn, "sessions"))
        events = set(schema.table_columns(self._conn, "events"))
        self._event_columns = tuple(name for name, _ in EVENT_COLUMNS if name in events)

    # --- sessions ------------------------------------------------------------------------------

    def create_session(
        self,
        model: str,
        device: str,
        dtype: str,
        settings: dict,
        versions: dict | None = None,
        session_id: str | None = None,
        experiment: dict | None = None,
        where: dict | None = None,
    ) -> str:
        """Start a `running` session owned by this process; returns its id.

        ``session_id`` lets a launcher choose the id (see :func:`new_session_id`) before the
        worker process that records it exists; by default a fresh one is drawn.
        ``experiment`` ({"experiment_id", "replicate", "side"}) groups replicate processes.
        ``where`` ({"pid", "hostname", "node_id", "device_name", "device_uuid"}) records the
        process that measures when it is not this one (a Ray actor; this is its driver).
        """
        now = time.time()
        row = {
            "started_at": now,
            "status": SessionStatus.RUNNING,
            "model": model,
            "device": device,
            "dtype": dtype,
            "settings": json_settings(settings),
            "versions": json.dumps(runtime_versions() if versions is None else versions),
            "pid": os.getpid(),
            "hostname": self._hostname,
            "heartbeat_at": now,
            **{key: (experiment or {}).get(key) for key in ("experiment_id", "replicate", "side")},
            **(where or {}),
        }
        columns = ", ".join(["id", *row])
        marks = ", ".join(["?"] * (len(row) + 1))
        while True:
            chosen = session_id or new_session_id()
            try:
                with self._transaction():
                    # A writer is here anyway: save what readers only judged, so a pid
                    # reused later cannot make a dead session look alive again.
                    self._save_dead_writers()
                    self._conn.execute(
                        f"INSERT INTO sessions ({columns}) VALUES ({marks})",
                        (chosen, *row.values()),
                    )
                return chosen
            except sqlite3.IntegrityError:
                if session_id:
                    raise StoreError(f"a session {session_id!r} already exists in {self.path}")
                # A drawn id collided (1 in 10^12): draw another.

    def update_session(self, session_id: str, **changes: Any) -> None:
        """Correct what was only known later: ``model``, ``device``, ``dtype``, ``settings``,
        ``versions`` (e.g. the device and dtype a model actually loaded on)."""
        editable = ("model", "device", "dtype", "settings", "versions", "device_name", "device_uuid")
        unknown = set(changes) - set(editable)
        if unknown:
            raise ValueError(f"update_session changes only {editable}, not {sorted(unknown)}")
        for key in ("settings", "versions"):
            if key in changes:
                changes[key] = json_settings(changes[key])
        if not changes:
            return
        assignments = ", ".join(f"{key} = :{key}" for key in changes)
        with self._transaction():
            cur = self._conn.execute(
                f"UPDATE sessions SET {assignments} WHERE id = :session_id",
                {**changes, "session_id": session_id},
            )
            if cur.rowcount != 1:
                raise UnknownSessionError(f"no session {session_id!r} in {self.path}")

    def finish_session(self, session_id: str, status: str, error: str | None = None) -> None:
        if status not in SessionStatus.ENDED:
            raise ValueError(f"a session finishes as one of {SessionStatus.ENDED}, not {status!r}")
        now = time.time()
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE sessions SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? "
                "WHERE id = ?",
                (status, now, now, error, session_id),
            )
            if cur.rowcount != 1:
                raise UnknownSessionError(f"no session {session_id!r} in {self.path}")

    def record_fault(self, session_id: str, reason: str) -> str:
        """After a write fault (:class:`StoreWriteError`, :class:`StoreLockedError`): mark
        the session `failed` with ``reason`` where a write is still possible, and return
        the status it now reads. Where nothing can be written (the disk is still full) it
        stays `running` until this process exits, and then reads `interrupted`: every
        committed sample stays either way."""
        try:
            self.finish_session(session_id, SessionStatus.FAILED, reason)
            return SessionStatus.FAILED
        except StoreError:
            return SessionStatus.INTERRUPTED

    def heartbeat(self, session_id: str) -> None:
        """Tell readers on other hosts this writer is alive (call it while paused)."""
        with self._transaction():
            self._conn.execute(
                f"UPDATE sessions SET {ALIVE_SQL} WHERE id = :id",
                {"now": time.time(), "id": session_id},
            )

    def sessions(self) -> list[SessionInfo]:
        """Every session, oldest first; dead writers' sessions read as `interrupted`.
        Reading never writes (see liveness.py)."""
        rows = self._session_rows("1 ORDER BY started_at, rowid")
        return [session_info(row) for row in settle(rows, self._hostname)[0]]

    def experiment_sessions(self, experiment_id: str) -> list[SessionInfo]:
        """The replicate sessions of one experiment (`vlmtop run --repeat`), in run order."""
        rows = self._session_rows("experiment_id = ? ORDER BY replicate, started_at", (experiment_id,))
        return [session_info(row) for row in settle(rows, self._hostname)[0]]

    def session(self, session_id: str) -> SessionInfo:
        """One session, its status judged as :meth:`sessions` does; never writes."""
        rows = self._session_rows("id = ?", (session_id,))
        if not rows:
            raise UnknownSessionError(
                f"no session {session_id!r} in {self.path}; "
                f"list them with `vlmtop sessions --db {self.path}`"
            )
        return session_info(settle(rows, self._hostname)[0][0])

    def _session_rows(self, where: str, params: tuple = ()) -> list[dict]:
        """Rows of `sessions`, validated (see validate.py): a row without a readable id is
        left out, any other unreadable value reads as its default."""
        rows = self._dicts(f"SELECT {self._session_select} FROM sessions WHERE {where}", params)
        return [c for r in rows if (c := clean_row("sessions", r, self.unreadable))]

    def _save_dead_writers(self) -> None:
        rows = self._session_rows(f"status = '{SessionStatus.RUNNING}'")
        save_settled(self._conn, settle(rows, self._hostname)[1])

    def sample_count_in_file(self) -> int:
        """Every sample row in the file, all sessions together."""
        return self._conn.execute("SELECT count(*) FROM samples").fetchone()[0]


def _make_private_file(path: Path) -> None:
    """An empty file only its owner reads: it holds prompts, paths and host names (the XDG
    spec's user data). SQLite gives the -wal and -shm beside it the same mode."""
    if path.is_symlink():  # a dangling one: the file is created where it points, private too
        path = Path(os.path.realpath(path))
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another process created it meanwhile: theirs to keep
        pass
    except OSError as exc:
        raise ReadOnlyStoreError(
            f"cannot create {path}: {exc.strerror}; choose a writable place with --db PATH "
            f"or the VLMTOP_DB environment variable"
        ) from None


def _make_folder(folder: Path) -> None:
    # 0700: a folder vlmtop creates for its database is private, as XDG wants user data.
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ReadOnlyStoreError(
            f"cannot create the folder {folder}: {exc.strerror}; choose a writable place "
            f"with --db PATH or the VLMTOP_DB environment variable"
        ) from None
