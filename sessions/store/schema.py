"""The session database's schema: its tables, how a file is recognised as ours, migration.

A file is vlmtop's when its header says so: ``PRAGMA application_id`` (bytes 68-71 of the
SQLite header) is :data:`APPLICATION_ID`. The header is read as plain bytes before SQLite
opens anything, so a foreign file, even one with tables named ``sessions`` and ``samples``,
is refused without a byte written: no connection, no ``-wal`` or ``-shm`` beside it. Only
an empty file (0 bytes, or SQLite with no tables and no application id) may become one.

The expected schema is built below, table by table, from the columns rows.py declares. An
older file gets whatever it lacks (tables, columns, indexes, data steps) in one IMMEDIATE
transaction, for every table alike; ``PRAGMA user_version`` records how far it has been
brought.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vlmtop.sessions.store.connection import uri, wal_pending
from vlmtop.sessions.store.errors import (
    EmptyStoreError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotASessionDatabaseError,
)
from vlmtop.sessions.store.rows import (
    CONTROL_COLUMNS,
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_KINDS,
    SESSION_COLUMNS,
    SQL_TYPES,
    Column,
)

# 1: the first release. 2: events.value, so a switch's new value is a column, not text.
# 3: samples.arm/knobs (interleaved arms), sessions.experiment_id/replicate/side, events.name.
# 4: samples.image_count, video_frames (several images per prompt, text-only prompts, video).
SCHEMA_VERSION = 4
APPLICATION_ID = 0x766C6D74  # b"vlmt": PRAGMA application_id of every vlmtop database
SQLITE_HEADER = b"SQLite format 3\x00"
HEADER_SIZE = 100  # the database header on page 1, https://sqlite.org/fileformat.html
_USER_VERSION_AT, _APPLICATION_ID_AT = 60, 68  # big-endian 4-byte fields of that header

_SAMPLE_NOT_NULL = ("session_id", "seq", "is_warmup", "status")


def _sample_column(name: str) -> str:
    decl = SQL_TYPES[SAMPLE_KINDS[name]]
    if name in _SAMPLE_NOT_NULL:
        decl += " NOT NULL"
    if name == "session_id":
        decl += " REFERENCES sessions(id)"
    return decl


def _declared(columns: tuple[tuple[str, Column], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, column.sql) for name, column in columns)


# table -> ((column, declaration), ...) in column order. Columns added in a later version
# go last and must be addable to an existing table: nullable, or NOT NULL with a DEFAULT.
# Each table's columns are declared once, in rows.py: samples' from SampleRecord's fields
# (a new field is a new column, nothing to edit here), the others' beside their decoders.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "sessions": _declared(SESSION_COLUMNS),
    "samples": tuple((name, _sample_column(name)) for name in SAMPLE_COLUMNS),
    "events": _declared(EVENT_COLUMNS),
    "controls": _declared(CONTROL_COLUMNS),
}
TABLE_CONSTRAINTS = {"samples": "PRIMARY KEY (session_id, seq)"}
INDEXES = (
    'CREATE INDEX IF NOT EXISTS "idx_events_session_id_seq" ON events (session_id, seq)',
    'CREATE INDEX IF NOT EXISTS "idx_controls_session_id_status" ON controls (session_id, status)',
)
VLMTOP_TABLES = tuple(TABLES)

# Data steps, run once when a file is brought up to the version that introduced them.
DATA_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # Events written before `value` existed said "cache=empty" in their text only.
    2: (
        "UPDATE events SET value = substr(detail, instr(detail, '=') + 1) "
        "WHERE value IS NULL AND kind IN ('policy', 'knob') AND instr(detail, '=') > 0",
    ),
    # ... and named the policy only in the text.
    3: (
        "UPDATE events SET name = substr(detail, 1, instr(detail, '=') - 1) "
        "WHERE name IS NULL AND kind IN ('policy', 'knob') AND instr(detail, '=') > 0",
    ),
}


def create_table_sql(table: str) -> str:
    parts = [f"{name} {decl}" for name, decl in TABLES[table]]
    if table in TABLE_CONSTRAINTS:
        parts.append(TABLE_CONSTRAINTS[table])
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(parts) + "\n)"


def _addable(decl: str) -> str:
    """``decl`` as ALTER TABLE ADD COLUMN accepts it: a row written before the column
    existed has no value, so NOT NULL stays only where a DEFAULT fills it in."""
    if "NOT NULL" in decl and "DEFAULT" not in decl:
        decl = decl.replace(" NOT NULL", "")
    return decl.replace(" PRIMARY KEY", "")


# --- recognising a file ------------------------------------------------------------------------


def read_header(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEADER_SIZE)


def check_ours(path: Path, create: bool) -> bool:
    """Refuse (raise) unless ``path`` is a vlmtop database, or an empty file we may create in.

    Returns True when the file is empty and has to be initialised. Nothing is written and,
    for a foreign file, nothing is created beside it.
    """
    head = read_header(path)
    if not head:
        if create:
            return True
        # A run creates the file empty, then SQLite writes its first page: a reader that
        # looks in between (attach, a test waiting on a run) must not call it foreign.
        raise EmptyStoreError(
            f"{path} is empty: a run may be starting in it (try again in a moment), "
            f"or record one with `vlmtop run --db {path}`"
        )
    if not head.startswith(SQLITE_HEADER):
        raise NotASessionDatabaseError(f"{path} is not an SQLite database")
    if len(head) < HEADER_SIZE:
        raise NotASessionDatabaseError(f"{path} cannot be read as SQLite: its header is cut short")
    app_id = int.from_bytes(head[_APPLICATION_ID_AT : _APPLICATION_ID_AT + 4], "big")
    if app_id == APPLICATION_ID:
        refuse_newer(path, int.from_bytes(head[_USER_VERSION_AT : _USER_VERSION_AT + 4], "big"))
        return False
    tables = _table_names_untouched(path)
    if create and not app_id and not tables and not wal_pending(path):
        return True  # an empty SQLite file: ours to initialise
    found = ", ".join(tables) or "none"
    raise ForeignDatabaseError(
        f"{path} is an SQLite file of another application "
        f"(application_id {app_id:#x}, tables: {found}), not a vlmtop session database"
    )


def refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{path} was written by a newer vlmtop (schema {version}, this one "
            f"reads up to {SCHEMA_VERSION}): upgrade with `pip install -U vlmtop`"
        )


def _table_names_untouched(path: Path) -> list[str]:
    # immutable=1: SQLite takes no lock and creates no -wal/-shm: a pure read of the file.
    try:
        conn = sqlite3.connect(uri(path, "ro", immutable=True), uri=True)
        try:
            return [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )]  # fmt: skip
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise NotASessionDatabaseError(f"{path} cannot be read as SQLite: {exc}") from exc


# --- bringing a file up to date ----------------------------------------------------------------


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def missing_parts(conn: sqlite3.Connection) -> list[str]:
    """What this file lacks of the schema, e.g. ``["table events", "column events.value"]``."""
    missing = []
    for table, columns in TABLES.items():
        have = table_columns(conn, table)
        if not have:
            missing.append(f"table {table}")
            continue
        missing += [f"column {table}.{name}" for name, _ in columns if name not in have]
    return missing


def user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def needs_migration(conn: sqlite3.Connection) -> bool:
    return user_version(conn) < SCHEMA_VERSION or bool(missing_parts(conn))


def migrate(conn: sqlite3.Connection) -> None:
    """Create what is missing, in every table; the caller holds an IMMEDIATE transaction."""
    old_version = user_version(conn)
    for table, columns in TABLES.items():
        have = table_columns(conn, table)
        if not have:
            conn.execute(create_table_sql(table))
            continue
        for name, decl in columns:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {_addable(decl)}")
    for sql in INDEXES:
        conn.execute(sql)
    for version in range(old_version + 1, SCHEMA_VERSION + 1):
        for sql in DATA_MIGRATIONS.get(version, ()):
            conn.execute(sql)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
