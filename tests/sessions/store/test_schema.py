"""Recognising our files (application_id), refusing others untouched, migrating old ones."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3

import pytest
from helpers_store import build_v1_database, folder_state, full_record, record_session

from vlmtop.cli import main
from vlmtop.sessions.records import EventRecord
from vlmtop.sessions.store import APPLICATION_ID, SessionStore
from vlmtop.sessions.store.errors import ForeignDatabaseError
from vlmtop.sessions.store.schema import SCHEMA_VERSION, TABLES


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def columns(path, table) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


# --- foreign files -------------------------------------------------------------------------------


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_foreign_file_with_sessions_and_samples_tables_is_refused_unwritten(tmp_path, capsys, journal):
    path = tmp_path / "foreign.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal}")
    conn.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, user TEXT, expires REAL)")
    conn.execute("CREATE TABLE samples (id INTEGER PRIMARY KEY, sensor TEXT, reading REAL)")
    conn.execute("INSERT INTO sessions (user) VALUES ('ada')")
    conn.commit()
    conn.close()
    digest, listing = sha256(path), folder_state(tmp_path)
    assert main(["sessions", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another application" in err and "samples, sessions" in err
    for create in (True, False):
        with pytest.raises(ForeignDatabaseError):
            SessionStore.open(path, create=create)
    assert main(["export", "last", "-o", str(tmp_path / "x.csv"), "--db", str(path)]) == 2
    assert sha256(path) == digest
    assert folder_state(tmp_path) == listing  # no -wal, -shm or export beside it either


def test_empty_files_become_session_databases_when_creating(tmp_path):
    zero = tmp_path / "zero.db"
    zero.touch()
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).execute("VACUUM").connection.close()  # SQLite, no tables
    for path in (zero, blank):
        with SessionStore.open(path) as store:
            record_session(store, 1)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        conn.close()


# --- migration of every table --------------------------------------------------------------------


def test_a_schema_1_file_is_migrated_in_every_table(tmp_path):
    path = tmp_path / "v1.db"
    session_id = build_v1_database(path, samples=3)
    assert "value" not in columns(path, "events")
    with SessionStore.open(path, create=False) as store:
        assert store.samples(session_id) == [full_record(session_id, s) for s in range(3)]
        events = store.events(session_id)
        assert [(e.kind, e.name, e.value) for e in events] == [("start", None, None), ("policy", "cache", "empty"), ("end", None, None)]
        assert events[1].detail == "cache=empty"
        (control,) = store.controls(session_id)
        assert (control.kind, control.value, control.applied_seq) == ("cache", "empty", 2)
        assert store.session(session_id).measured_count == 3
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    for table, declared in TABLES.items():  # a migrated file has every column (added ones last)
        assert sorted(columns(path, table)) == sorted(name for name, _ in declared), table


def test_migration_adds_what_any_table_lacks(tmp_path):
    # A file missing a later column in each of its four tables (as a future version will
    # find today's files): every table gets its column, old rows read with defaults.
    path = tmp_path / "old.db"
    with SessionStore.open(path) as store:
        session_id = record_session(store, 2)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO controls (session_id, kind, created_at, status) VALUES (?, 'pause', 1, 'applied')", (session_id,))
    for table, column in (("sessions", "error_count"), ("samples", "extra_ms"),
                          ("events", "value"), ("controls", "answered_at")):  # fmt: skip
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SessionStore.open(path, create=False, readonly=True) as store:  # reads, unmigrated
        assert store.samples(session_id)[1] == dataclasses.replace(full_record(session_id, 1), extra_ms={})
        assert store.session(session_id).error_count == 0
        assert store.controls(session_id)[0].answered_at is None
    assert "value" not in columns(path, "events")
    with SessionStore.open(path, create=False) as store:
        store.write_event(EventRecord(session_id, 2, "policy", "cache=keep", value="keep"))
        assert store.events(session_id)[-1].value == "keep"
    for table, declared in TABLES.items():  # added columns go last
        assert sorted(columns(path, table)) == sorted(name for name, _ in declared), table


def test_event_value_round_trips_and_defaults_to_none(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        session_id = record_session(store, 0)
        store.write_event(EventRecord(session_id, 0, "knob", "attn=sdpa", value="sdpa"))
        events = store.events(session_id)
    assert [e.value for e in events] == [None, None, "sdpa"]
