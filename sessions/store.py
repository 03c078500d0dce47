"""The session database: one SQLite file (WAL) holding many recorded sessions.

The worker writes through a :class:`SessionStore`; the dashboard, replay, export and
compare read through one. Every finished sample is written in its own transaction, so what
a process reported is in the file the moment ``write_sample`` returns, whoever dies next.

Tables (the README documents them for people opening the file in sqlite3 or Datasette):
``sessions``, ``samples`` (one column per :class:`SampleRecord` field), ``events`` and
``controls``. ``PRAGMA user_version`` holds the schema version and ``PRAGMA
application_id`` marks the file as ours, so a foreign or newer file is refused, not
written to.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import sys
import time
import types
import typing
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.record import EventRecord, SampleRecord

SCHEMA_VERSION = 1
APPLICATION_ID = 0x766C6D74  # b"vlmt": PRAGMA application_id of every vlmtop database
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 5.0  # how long a writer waits for another writer's lock
# A writer on another host cannot be probed by pid: silence this long means it is gone.
STALE_HEARTBEAT_S = 60.0

SESSION_STATUSES = ("running", "completed", "failed", "interrupted")
CONTROL_STATUSES = ("pending", "applied", "rejected")
VLMTOP_TABLES = ("sessions", "samples", "events", "controls")


class StoreError(VlmtopError):
    """The session database cannot do what was asked; the message says why and what to do."""


class StoreNotFoundError(StoreError):
    """No database file where one was expected (nothing is created when reading)."""


class NotASessionDatabaseError(StoreError):
    """The file is not a vlmtop session database: not SQLite, or not readable as SQLite."""


class ForeignDatabaseError(NotASessionDatabaseError):
    """The file is an SQLite database, but another application's."""


class NewerSchemaError(StoreError):
    """The file was written by a newer vlmtop with a schema this one does not know."""


class UnknownSessionError(StoreError):
    """No session matches the given id, prefix or ``last``."""


class AmbiguousSessionError(UnknownSessionError):
    """A prefix matches several sessions."""


# --- how SampleRecord fields map to columns -------------------------------------------------
# Derived from the dataclass, so a field added to SampleRecord becomes a column (and is
# added to existing files on open) without touching this module.


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _field_kind(hint: Any) -> str:
    """bool | int | float | str | json (lists, tuples and dicts are stored as JSON text)."""
    hint = _strip_optional(hint)
    base = typing.get_origin(hint) or hint
    if base in (list, tuple, dict):
        return "json"
    if base in (bool, int, float, str):
        return base.__name__
    raise TypeError(f"SampleRecord field type {hint!r} has no column mapping")


def _identity(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _json_decoder(hint: Any) -> Callable[[str | None], Any]:
    hint = _strip_optional(hint)
    container = typing.get_origin(hint) or hint
    items = typing.get_args(hint)
    # Spans are list[tuple]: JSON gives lists back, so restore the tuples for a record
    # read back to equal the record written.
    items_are_tuples = container is list and bool(items) and typing.get_origin(items[0]) is tuple

    def decode(text: str | None) -> Any:
        if text is None:  # a column added after this row was written
            return container()
        value = json.loads(text)
        if items_are_tuples and value is not None:
            return [tuple(item) for item in value]
        return value

    return decode


def _encoder(kind: str) -> Callable[[Any], Any]:
    return {"json": _json_text, "bool": int}.get(kind, _identity)


def _decoder(name: str, kind: str) -> Callable[[Any], Any]:
    if kind == "json":
        return _json_decoder(_HINTS[name])
    return bool if kind == "bool" else _identity


_HINTS = typing.get_type_hints(SampleRecord)
SAMPLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SampleRecord))
SAMPLE_KINDS: dict[str, str] = {name: _field_kind(_HINTS[name]) for name in SAMPLE_COLUMNS}
_SQL_TYPES = {"bool": int, "int": int, "float": float, "str": str, "json": str}
_ENCODERS = {name: _encoder(kind) for name, kind in SAMPLE_KINDS.items()}
_DECODERS = {name: _decoder(name, kind) for name, kind in SAMPLE_KINDS.items()}

_INSERT_SAMPLE_SQL = (
    f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join(['?'] * len(SAMPLE_COLUMNS))})"
)


def encode_sample(rec: SampleRecord) -> tuple:
    """The row stored for ``rec``, in :data:`SAMPLE_COLUMNS` order (JSON text for lists)."""
    return tuple(_ENCODERS[name](getattr(rec, name)) for name in SAMPLE_COLUMNS)


# --- the rows readers get back ---------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """One row of ``sessions``, with its sample counters."""

    id: str
    started_at: float
    ended_at: float | None
    status: str  # running | completed | failed | interrupted
    model: str
    device: str
    dtype: str
    settings: dict
    versions: dict
    pid: int | None
    hostname: str
    heartbeat_at: float | None
    error: str | None
    sample_count: int  # every row in `samples`: measured, warm-up and errors
    measured_count: int  # not warm-up and status ok: what statistics use
    warmup_count: int
    error_count: int

    @property
    def duration_s(self) -> float:
        """Wall time from start to end; up to now while it is still running."""
        end = self.ended_at if self.ended_at is not None else time.time()
        return max(0.0, end - self.started_at)

    @property
    def failed_before_any_sample(self) -> str | None:
        """The one-line reason when the session failed with nothing recorded (a model that
        does not load, a stage path that does not exist): all a command has to report."""
        if self.status == "failed" and not self.sample_count:
            return f"{self.error} (session {self.id} recorded as failed)"
        return None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["duration_s"] = self.duration_s
        return out


@dataclass(frozen=True)
class Control:
    """A request a dashboard wrote for the worker (pause, stop, a policy change...)."""

    id: int
    session_id: str
    kind: str
    value: str | None
    created_at: float
    status: str  # pending | applied | rejected
    applied_seq: int | None  # the first sample recorded under it
    answered_at: float | None


def new_session_id() -> str:
    """A fresh session id: 10 random hex digits, short to type, unique in practice."""
    return secrets.token_hex(5)


def _json_settings(settings: dict) -> str:
    # default=str: run options may hold paths or enums; the record must not fail on them.
    return json.dumps(settings, sort_keys=True, default=str)


def runtime_versions() -> dict[str, str | None]:
    """Versions worth recording with a session; read from metadata, nothing is imported."""

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "torch": version("torch"),
        "transformers": version("transformers"),
        "vlmtop": version("vlmtop"),
        "sqlite": sqlite3.sqlite_version,
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    # A killed child that its parent has not reaped yet still answers kill(pid, 0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _writer_gone(row: dict, now: float, hostname: str) -> bool:
    """Whether the process recording a `running` session has stopped without closing it."""
    # os.kill(pid, 0) would terminate the process on Windows: use the heartbeat there.
    if row["hostname"] == hostname and row["pid"] and os.name == "posix":
        return not _pid_alive(row["pid"])
    last_sign_of_life = row["heartbeat_at"] or row["started_at"]
    return now - last_sign_of_life > STALE_HEARTBEAT_S


def _session_info(row: dict) -> SessionInfo:
    row = dict(row)
    row["settings"] = json.loads(row["settings"] or "{}")
    row["versions"] = json.loads(row["versions"] or "{}")
    return SessionInfo(**{f.name: row.get(f.name) for f in fields(SessionInfo)})


def _control(row: dict) -> Control:
    return Control(**{f.name: row[f.name] for f in fields(Control)})


def _event(row: dict) -> EventRecord:
    return EventRecord(**{f.name: row[f.name] for f in fields(EventRecord) if f.name in row})


# Sets a running session's heartbeat; also brings back one a reader wrongly marked
# interrupted (its writer was only silent), since a write proves the writer is alive.
_ALIVE_SQL = """
    heartbeat_at = :now,
    ended_at = CASE status WHEN 'interrupted' THEN NULL ELSE ended_at END,
    error = CASE status WHEN 'interrupted' THEN NULL ELSE error END,
    status = CASE status WHEN 'interrupted' THEN 'running' ELSE status END
"""


class SessionStore:
    """Reads and writes one session database file. Use one store per thread at a time."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool):
        self.path = path
        self.readonly = readonly
        self._conn = conn
        # For ad-hoc queries (sqlite-utils API); the methods below are the supported ones.
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._hostname = socket.gethostname()
        self._columns: tuple[str, ...] = ()

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = True) -> SessionStore:
        """Open (or with ``create``, create) the database at ``path``.

        Refuses, before writing anything, a missing file when not creating, a file that is
        not SQLite, another application's SQLite file and a newer schema.
        """
        path = Path(path).expanduser()
        if path.is_dir():
            raise NotASessionDatabaseError(f"{path} is a folder, not a session database")
        if not path.exists():
            if not create:
                raise StoreNotFoundError(
                    f"no session database at {path}: record one with `vlmtop run`, "
                    f"or list the sessions of another file with `vlmtop sessions --db PATH`"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not _has_sqlite_header(path, empty_ok=create):
            raise NotASessionDatabaseError(f"{path} is not an SQLite database")
        conn, readonly = _connect(path, create)
        store = cls(path, conn, readonly)
        try:
            store._prepare_schema(create)
            store._columns = store._sample_table_columns()
            store._settle(store._dicts("SELECT * FROM sessions WHERE status = 'running'"))
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

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pragma(self, name: str) -> Any:
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    def _refuse_foreign_or_newer(self, create: bool) -> bool:
        """Raise unless the file is ours (or empty and we may create); True if work is due."""
        app_id = self._pragma("application_id")
        version = self._pragma("user_version")
        tables = set(self.db.table_names())
        ours = app_id == APPLICATION_ID or {"sessions", "samples"} <= tables
        if not ours:
            if tables or app_id or not create:
                found = ", ".join(sorted(tables)) or "none"
                raise ForeignDatabaseError(
                    f"{self.path} is an SQLite file of another application "
                    f"(application_id {app_id:#x}, tables: {found}), not a vlmtop session database"
                )
        if version > SCHEMA_VERSION:
            raise NewerSchemaError(
                f"{self.path} was written by a newer vlmtop (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}): upgrade with `pip install -U vlmtop`"
            )
        return version < SCHEMA_VERSION or not set(VLMTOP_TABLES) <= tables

    def _prepare_schema(self, create: bool) -> None:
        if self._refuse_foreign_or_newer(create) or self._missing_sample_columns():
            if self.readonly:
                # Missing sample columns read back as defaults; missing tables cannot.
                if not set(VLMTOP_TABLES) <= set(self.db.table_names()):
                    raise StoreError(f"{self.path} needs a schema upgrade but is read-only")
                return
            with self._transaction():
                # Checked again under the write lock: another process may have just done it.
                self._refuse_foreign_or_newer(create)
                self._create_or_migrate()
        if create and not self.readonly:
            self.db.enable_wal()

    def _missing_sample_columns(self) -> list[str]:
        if not self.db["samples"].exists():
            return []
        have = set(self.db["samples"].columns_dict)
        return [name for name in SAMPLE_COLUMNS if name not in have]

    def _create_or_migrate(self) -> None:
        """Create what is missing: all tables in a new file, new columns in an older one."""
        db = self.db
        db["sessions"].create(
            {
                "id": str,
                "started_at": float,
                "ended_at": float,
                "status": str,
                "model": str,
                "device": str,
                "dtype": str,
                "settings": str,
                "versions": str,
                "pid": int,
                "hostname": str,
                "heartbeat_at": float,
                "error": str,
                "sample_count": int,
                "measured_count": int,
                "warmup_count": int,
                "error_count": int,
            },
            pk="id",
            not_null=[
                "started_at",
                "status",
                "sample_count",
                "measured_count",
                "warmup_count",
                "error_count",
            ],
            defaults={"sample_count": 0, "measured_count": 0, "warmup_count": 0, "error_count": 0},
            if_not_exists=True,
        )
        db["samples"].create(
            {name: _SQL_TYPES[kind] for name, kind in SAMPLE_KINDS.items()},
            pk=("session_id", "seq"),
            not_null=["session_id", "seq", "is_warmup", "status"],
            foreign_keys=[("session_id", "sessions", "id")],
            if_not_exists=True,
        )
        for name in self._missing_sample_columns():
            db["samples"].add_column(name, _SQL_TYPES[SAMPLE_KINDS[name]])
        db["events"].create(
            {"id": int, "session_id": str, "seq": int, "kind": str, "detail": str, "at": float},
            pk="id",
            not_null=["session_id", "seq", "kind", "at"],
            foreign_keys=[("session_id", "sessions", "id")],
            if_not_exists=True,
        )
        db["events"].create_index(["session_id", "seq"], if_not_exists=True)
        db["controls"].create(
            {
                "id": int,
                "session_id": str,
                "kind": str,
                "value": str,
                "created_at": float,
                "status": str,
                "applied_seq": int,
                "answered_at": float,
            },
            pk="id",
            not_null=["session_id", "kind", "created_at", "status"],
            defaults={"status": "pending"},
            foreign_keys=[("session_id", "sessions", "id")],
            if_not_exists=True,
        )
        db["controls"].create_index(["session_id", "status"], if_not_exists=True)
        self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _sample_table_columns(self) -> tuple[str, ...]:
        # Read only what the file has: a read-only older file may lack a newer field,
        # which then reads back as the field's default.
        have = set(self.db["samples"].columns_dict)
        return tuple(name for name in SAMPLE_COLUMNS if name in have)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so a read-then-write never fails with
        # SQLITE_BUSY halfway; the busy timeout makes a second writer wait its turn.
        self._conn.execute("BEGIN IMMEDIATE")
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

    # --- sessions --------------------------------------------------------------------------

    def create_session(
        self,
        model: str,
        device: str,
        dtype: str,
        settings: dict,
        versions: dict | None = None,
        session_id: str | None = None,
    ) -> str:
        """Start a `running` session owned by this process; returns its id.

        ``session_id`` lets a launcher choose the id (see :func:`new_session_id`) before the
        worker process that records it exists; by default a fresh one is drawn.
        """
        now = time.time()
        row = {
            "started_at": now,
            "status": "running",
            "model": model,
            "device": device,
            "dtype": dtype,
            "settings": _json_settings(settings),
            "versions": json.dumps(runtime_versions() if versions is None else versions),
            "pid": os.getpid(),
            "hostname": self._hostname,
            "heartbeat_at": now,
        }
        columns = ", ".join(["id", *row])
        marks = ", ".join(["?"] * (len(row) + 1))
        while True:
            chosen = session_id or new_session_id()
            try:
                with self._transaction():
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
        editable = ("model", "device", "dtype", "settings", "versions")
        unknown = set(changes) - set(editable)
        if unknown:
            raise ValueError(f"update_session changes only {editable}, not {sorted(unknown)}")
        for key in ("settings", "versions"):
            if key in changes:
                changes[key] = _json_settings(changes[key])
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
        if status not in SESSION_STATUSES[1:]:
            raise ValueError(f"a session finishes as one of {SESSION_STATUSES[1:]}, not {status!r}")
        now = time.time()
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE sessions SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? "
                "WHERE id = ?",
                (status, now, now, error, session_id),
            )
            if cur.rowcount != 1:
                raise UnknownSessionError(f"no session {session_id!r} in {self.path}")

    def heartbeat(self, session_id: str) -> None:
        """Tell readers on other hosts this writer is alive (call it while paused)."""
        with self._transaction():
            self._conn.execute(
                f"UPDATE sessions SET {_ALIVE_SQL} WHERE id = :id",
                {"now": time.time(), "id": session_id},
            )

    def sessions(self) -> list[SessionInfo]:
        """Every session, oldest first; dead writers' sessions read as `interrupted`."""
        rows = self._dicts("SELECT * FROM sessions ORDER BY started_at, rowid")
        return [_session_info(row) for row in self._settle(rows)]

    def session(self, session_id: str) -> SessionInfo:
        rows = self._dicts("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            raise UnknownSessionError(
                f"no session {session_id!r} in {self.path}; "
                f"list them with `vlmtop sessions --db {self.path}`"
            )
        return _session_info(self._settle(rows)[0])

    def resolve(self, session_ref: str) -> str:
        """The id of the session named by a full id, a unique id prefix, or ``last``."""
        listing = f"list them with `vlmtop sessions --db {self.path}`"
        if session_ref == "last":
            row = self._conn.execute(
                "SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise UnknownSessionError(f"no sessions recorded in {self.path} yet")
            return row[0]
        pattern = session_ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT id FROM sessions WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY started_at",
                (session_ref, pattern + "%"),
            )
        ]
        if session_ref in ids:
            return session_ref
        if not ids or not session_ref:
            raise UnknownSessionError(f"no session {session_ref!r} in {self.path}; {listing}")
        if len(ids) > 1:
            raise AmbiguousSessionError(
                f"{session_ref!r} matches {len(ids)} sessions ({', '.join(ids[:5])}"
                f"{', ...' if len(ids) > 5 else ''}): give more of the id"
            )
        return ids[0]

    def _settle(self, rows: list[dict]) -> list[dict]:
        """``rows`` with dead writers' `running` sessions turned `interrupted`.

        The change is saved when the file is writable; a read-only file still reads right.
        """
        now = time.time()
        settled, gone = [], []
        for row in rows:
            if row["status"] == "running" and _writer_gone(row, now, self._hostname):
                row = {
                    **row,
                    "status": "interrupted",
                    "ended_at": row["heartbeat_at"] or row["started_at"],
                    "error": f"the recording process (pid {row['pid']} on {row['hostname']}) "
                    f"stopped without closing the session",
                }
                gone.append(row)
            settled.append(row)
        if gone and not self.readonly:
            with self._transaction():
                for row in gone:
                    self._conn.execute(
                        "UPDATE sessions SET status = 'interrupted', ended_at = ?, error = ? "
                        "WHERE id = ? AND status = 'running'",
                        (row["ended_at"], row["error"], row["id"]),
                    )
        return settled

    # --- samples ---------------------------------------------------------------------------

    def write_sample(self, rec: SampleRecord) -> None:
        """Append one sample in its own transaction: durable when this returns.

        ``rec.seq`` must be the session's next seq (0, 1, 2, ...): sessions are gapless.
        """
        counts = {
            "measured": int(not rec.is_warmup and rec.status == "ok"),
            "warmup": int(rec.is_warmup),
            "error": int(rec.status == "error"),
            "now": time.time(),
            "id": rec.session_id,
            "seq": rec.seq,
        }
        with self._transaction():
            # The counters double as the gapless check: the update only matches when
            # `seq` is exactly the number of samples already there.
            cur = self._conn.execute(
                "UPDATE sessions SET sample_count = sample_count + 1, "
                "measured_count = measured_count + :measured, "
                "warmup_count = warmup_count + :warmup, error_count = error_count + :error, "
                f"{_ALIVE_SQL} WHERE id = :id AND sample_count = :seq",
                counts,
            )
            if cur.rowcount != 1:
                raise self._out_of_order(rec)
            self._conn.execute(_INSERT_SAMPLE_SQL, encode_sample(rec))

    def _out_of_order(self, rec: SampleRecord) -> StoreError:
        row = self._conn.execute(
            "SELECT sample_count FROM sessions WHERE id = ?", (rec.session_id,)
        ).fetchone()
        if row is None:
            return UnknownSessionError(f"no session {rec.session_id!r} in {self.path}")
        return StoreError(
            f"sample seq {rec.seq} does not follow session {rec.session_id}'s "
            f"{row[0]} samples (seq must be {row[0]}: sessions are gapless)"
        )

    def _select(self, where: str, params: tuple, limit: int | None = None) -> list[SampleRecord]:
        sql = f"SELECT {', '.join(self._columns)} FROM samples WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        decoders = [_DECODERS[name] for name in self._columns]
        names = self._columns
        return [
            SampleRecord(**{n: dec(v) for n, dec, v in zip(names, decoders, row)})
            for row in self._conn.execute(sql, params)
        ]

    def samples(
        self, session_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[SampleRecord]:
        """Samples with seq > ``after_seq``, in seq order, at most ``limit`` of them."""
        return self._select("session_id = ? AND seq > ?", (session_id, after_seq), limit)

    def samples_between(self, session_id: str, lo: int, hi: int) -> list[SampleRecord]:
        """Samples with ``lo <= seq <= hi``."""
        return self._select("session_id = ? AND seq BETWEEN ? AND ?", (session_id, lo, hi))

    def iter_samples(self, session_id: str, page: int = 5000) -> Iterator[SampleRecord]:
        """Every sample of a session, read ``page`` rows at a time (bounded memory)."""
        after = -1
        while batch := self.samples(session_id, after_seq=after, limit=page):
            yield from batch
            after = batch[-1].seq

    def column(
        self, session_id: str, name: str, measured_only: bool = False
    ) -> np.ndarray | list:
        """One column in seq order, without building records: the fast path for statistics.

        Numeric columns come back as a float64 array (NULL as NaN), text and JSON columns
        as a list. ``measured_only`` drops warm-up and error samples.
        """
        if name not in self._columns:
            raise StoreError(f"no sample column {name!r}; columns: {', '.join(self._columns)}")
        sql = f"SELECT {name} FROM samples WHERE session_id = ?"
        if measured_only:
            sql += " AND is_warmup = 0 AND status = 'ok'"
        values = [v for (v,) in self._conn.execute(sql + " ORDER BY seq", (session_id,))]
        kind = SAMPLE_KINDS[name]
        if kind in ("int", "float", "bool"):
            return np.array(values, dtype=np.float64)
        if kind == "json":
            return [_DECODERS[name](v) for v in values]
        return values

    # --- events ----------------------------------------------------------------------------

    def write_event(self, ev: EventRecord) -> int:
        """Append an event (``at`` defaults to now); returns its id."""
        at = ev.at or time.time()
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO events (session_id, seq, kind, detail, at) VALUES (?, ?, ?, ?, ?)",
                (ev.session_id, ev.seq, ev.kind, ev.detail, at),
            )
        return cur.lastrowid

    def events(self, session_id: str, after_id: int = 0) -> list[EventRecord]:
        """Events with id > ``after_id``, in the order they were written."""
        rows = self._dicts(
            "SELECT * FROM events WHERE session_id = ? AND id > ? ORDER BY id",
            (session_id, after_id),
        )
        return [_event(row) for row in rows]

    def events_between(self, session_id: str, lo_seq: int, hi_seq: int) -> list[EventRecord]:
        """Events applying from a sample with ``lo_seq <= seq <= hi_seq``."""
        rows = self._dicts(
            "SELECT * FROM events WHERE session_id = ? AND seq BETWEEN ? AND ? ORDER BY seq, id",
            (session_id, lo_seq, hi_seq),
        )
        return [_event(row) for row in rows]

    # --- controls --------------------------------------------------------------------------

    def add_control(self, session_id: str, kind: str, value: str | None = None) -> int:
        """Queue a request for the worker recording ``session_id``; returns its id."""
        status = self.session(session_id).status
        if status in ("completed", "failed"):
            raise StoreError(f"session {session_id} is {status}: there is no worker to steer")
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO controls (session_id, kind, value, created_at, status) "
                "VALUES (?, ?, ?, ?, 'pending')",
                (session_id, kind, value, time.time()),
            )
        return cur.lastrowid

    def pending_controls(self, session_id: str) -> list[Control]:
        rows = self._dicts(
            "SELECT * FROM controls WHERE session_id = ? AND status = 'pending' ORDER BY id",
            (session_id,),
        )
        return [_control(row) for row in rows]

    def answer_control(self, control_id: int, status: str, applied_seq: int | None = None) -> None:
        """Mark a pending request `applied` (from sample ``applied_seq``) or `rejected`."""
        if status not in CONTROL_STATUSES[1:]:
            raise ValueError(f"a control is answered {CONTROL_STATUSES[1:]}, not {status!r}")
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE controls SET status = ?, applied_seq = ?, answered_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (status, applied_seq, time.time(), control_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"control {control_id} is unknown or already answered")

    def controls(self, session_id: str) -> list[Control]:
        rows = self._dicts(
            "SELECT * FROM controls WHERE session_id = ? ORDER BY id", (session_id,)
        )
        return [_control(row) for row in rows]

    # --- copying ---------------------------------------------------------------------------

    def copy_session_from(self, source_path: str | os.PathLike, session_id: str) -> None:
        """Copy one session (all its tables' rows) from another database file into this one.

        The source is attached read-only and read in one transaction: a consistent
        snapshot even while its writer keeps appending.
        """
        self._conn.execute("ATTACH DATABASE ? AS src", (_uri(Path(source_path), "ro"),))
        try:
            with self._transaction():
                for table, key in (
                    ("sessions", "id"),
                    ("samples", "session_id"),
                    ("events", "session_id"),
                    ("controls", "session_id"),
                ):
                    mine = self.db[table].columns_dict
                    theirs = {r[1] for r in self._conn.execute(f"PRAGMA src.table_info({table})")}
                    shared = ", ".join(name for name in mine if name in theirs)
                    self._conn.execute(
                        f"INSERT INTO main.{table} ({shared}) "
                        f"SELECT {shared} FROM src.{table} WHERE {key} = ?",
                        (session_id,),
                    )
        finally:
            self._conn.execute("DETACH DATABASE src")


def _uri(path: Path, mode: str) -> str:
    return f"file:{urllib.parse.quote(str(path.resolve()))}?mode={mode}"


def _has_sqlite_header(path: Path, empty_ok: bool) -> bool:
    with path.open("rb") as f:
        head = f.read(len(SQLITE_HEADER))
    return head == SQLITE_HEADER or (empty_ok and head == b"")


def _connect(path: Path, create: bool) -> tuple[sqlite3.Connection, bool]:
    """Connect without ever creating the file unless asked; read-only if write-protected."""
    readonly = not create and not os.access(path, os.W_OK)
    conn = sqlite3.connect(
        _uri(path, "ro" if readonly else "rwc" if create else "rw"),
        uri=True,
        timeout=BUSY_TIMEOUT_S,
        # Statements run in autocommit; the store opens its transactions explicitly.
        isolation_level=None,
        # Created on one thread, polled from a dashboard worker thread.
        check_same_thread=False,
    )
    # NORMAL in WAL mode: a commit is in the WAL file when it returns, so it survives any
    # process dying (the guarantee the worker needs); only a power cut may lose the last
    # few, and never corrupts the file. FULL would fsync per sample: ~40x the write cost.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn, readonly
