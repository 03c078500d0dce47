"""The session database: schema, round trips, durability, refusal of bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers_store import full_record, new_session, raw_sql, record_session, start_writer

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import (
    APPLICATION_ID,
    SessionStore,
    StoreError,
    StoreNotFoundError,
    UnknownSessionError,
    new_session_id,
)
from vlmtop.sessions.store.errors import (
    AmbiguousSessionError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotASessionDatabaseError,
)
from vlmtop.sessions.store.paths import default_db_path
from vlmtop.sessions.store.schema import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        yield store


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def folder_state(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# --- schema ------------------------------------------------------------------------------


def test_new_file_has_the_documented_schema(tmp_path):
    path = tmp_path / "deep" / "er" / "sessions.db"
    SessionStore.open(path).close()  # parent folders are created
    conn = sqlite3.connect(path)
    pragma = lambda name: conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("application_id") == APPLICATION_ID
    assert pragma("user_version") == SCHEMA_VERSION
    assert pragma("journal_mode") == "wal"
    columns = lambda t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]  # noqa: E731
    assert columns("samples") == [f.name for f in dataclasses.fields(SampleRecord)]
    required = ("id started_at ended_at status model device dtype settings versions pid "
                "hostname heartbeat_at error").split()  # fmt: skip
    assert set(required) <= set(columns("sessions"))
    assert columns("events") == ["id", "session_id", "seq", "kind", "detail", "at", "value", "name"]
    assert columns("controls") == [
        "id", "session_id", "kind", "value", "created_at", "status", "applied_seq", "answered_at",
    ]  # fmt: skip
    info = conn.execute("PRAGMA table_info(samples)").fetchall()
    assert [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] == ["session_id", "seq"]
    types = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(sessions)")}
    assert types["started_at"] == types["heartbeat_at"] == "REAL"


def test_default_path_follows_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "vlmtop" / "sessions.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path().name == "sessions.db"
    assert "vlmtop" in default_db_path().parts


def test_older_schema_is_migrated_on_open(tmp_path):
    path = tmp_path / "old.db"
    with SessionStore.open(path) as store:
        session_id = record_session(store, 3)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE samples DROP COLUMN mp_e2e_ms")
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    with SessionStore.open(path, create=False) as store:
        expected = dataclasses.replace(full_record(session_id, 1), mp_e2e_ms=None)
        assert store.samples(session_id)[1] == expected
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "mp_e2e_ms" in [r[1] for r in conn.execute("PRAGMA table_info(samples)")]


# --- round trips ------------------------------------------------------------------------


def test_every_sample_field_round_trips(store):
    session_id = new_session(store)
    written = [full_record(session_id, seq) for seq in range(12)]
    written.append(SampleRecord(session_id, 12))  # all defaults: None, empty lists
    for rec in written:
        store.write_sample(rec)
    read = store.samples(session_id)
    assert read == written
    assert all(isinstance(span, tuple) for span in read[3].spans)
    assert isinstance(read[0].is_warmup, bool)
    assert store.samples(session_id, after_seq=9) == written[10:]
    assert store.samples(session_id, after_seq=2, limit=3) == written[3:6]
    assert store.samples_between(session_id, 4, 6) == written[4:7]
    assert list(store.iter_samples(session_id, page=5)) == written


def test_events_round_trip_with_their_ids(store):
    session_id = new_session(store)
    first = store.write_event(EventRecord(session_id, 0, "start", "cache=keep", at=123.5))
    second = store.write_event(EventRecord(session_id, 4, "policy", "cache=empty"))
    events = store.events(session_id)
    assert events[0] == EventRecord(session_id, 0, "start", "cache=keep", 123.5, id=first)
    assert events[1].at == pytest.approx(time.time(), abs=5)  # `at` defaults to now
    assert store.events(session_id, after_id=first) == [events[1]]
    assert store.events_between(session_id, 1, 10) == [events[1]]
    assert second > first


def test_session_info_counts_and_settings(store):
    session_id = record_session(store, 23, cache_policy="empty")
    info = store.session(session_id)
    records = [full_record(session_id, seq) for seq in range(23)]
    assert info.status == "completed" and info.ended_at >= info.started_at
    assert info.sample_count == 23
    assert info.warmup_count == sum(r.is_warmup for r in records)
    assert info.error_count == sum(r.status == "error" for r in records)
    assert info.measured_count == sum(not r.is_warmup and r.status == "ok" for r in records)
    assert info.settings == {"max_new_tokens": 4, "cache_policy": "empty"}
    assert info.versions["transformers"] == "5.0"
    assert info.pid == os.getpid() and info.hostname == socket.gethostname()
    assert 0 <= info.duration_s < 60
    assert [s.id for s in store.sessions()] == [session_id]


def test_samples_must_be_gapless(store):
    session_id = new_session(store)
    store.write_sample(full_record(session_id, 0))
    for bad_seq in (0, 2):
        with pytest.raises(StoreError, match="gapless"):
            store.write_sample(full_record(session_id, bad_seq))
    with pytest.raises(UnknownSessionError):
        store.write_sample(full_record("nosuchid", 0))
    assert [r.seq for r in store.samples(session_id)] == [0]
    assert store.session(session_id).sample_count == 1


def test_column_fast_path(store):
    session_id = record_session(store, 30)
    records = [full_record(session_id, seq) for seq in range(30)]
    store.write_sample(SampleRecord(session_id, 30, status="error", error="boom"))
    prefill = store.column(session_id, "prefill_ms")
    assert isinstance(prefill, np.ndarray) and prefill.dtype == np.float64
    assert prefill[:30].tolist() == [r.prefill_ms for r in records]
    assert np.isnan(prefill[30])
    measured = store.column(session_id, "e2e_ms", measured_only=True)
    assert measured.tolist() == [r.e2e_ms for r in records if not r.is_warmup and r.status == "ok"]
    assert store.column(session_id, "decode_steps_ms")[2] == records[2].decode_steps_ms
    with pytest.raises(StoreError, match="no sample column"):
        store.column(session_id, "prefill_ms; DROP TABLE samples")


def test_controls_are_queued_and_answered(store):
    session_id = new_session(store)
    pause = store.add_control(session_id, "pause")
    cache = store.add_control(session_id, "cache", "empty")
    assert [c.kind for c in store.pending_controls(session_id)] == ["pause", "cache"]
    store.answer_control(pause, "applied", applied_seq=7)
    store.answer_control(cache, "rejected")
    assert store.pending_controls(session_id) == []
    answered = store.controls(session_id)
    assert (answered[0].status, answered[0].applied_seq, answered[0].value) == ("applied", 7, None)
    assert (answered[1].status, answered[1].value) == ("rejected", "empty")
    assert answered[0].answered_at >= answered[0].created_at
    with pytest.raises(StoreError, match="already answered"):
        store.answer_control(pause, "applied", applied_seq=8)
    store.finish_session(session_id, "completed")
    with pytest.raises(StoreError, match="no worker"):
        store.add_control(session_id, "stop")


# --- resolving session references --------------------------------------------------------


def test_resolve_by_id_prefix_and_last(store):
    first = new_session(store)
    second = new_session(store)
    assert store.resolve(first) == first
    assert store.resolve("last") == second
    common = os.path.commonprefix([first, second])
    assert store.resolve(first[: len(common) + 1]) == first
    with pytest.raises(UnknownSessionError, match="vlmtop sessions"):
        store.resolve("zzzz")
    with pytest.raises(UnknownSessionError):
        store.session("zzzz")
    with pytest.raises(UnknownSessionError):
        store.resolve("%")  # LIKE wildcards are literal


def test_ambiguous_prefix(store):
    ids = {new_session(store) for _ in range(40)}  # 40 random hex ids share first digits
    prefix = next(p for p in (i[0] for i in ids) if sum(i.startswith(p) for i in ids) > 1)
    with pytest.raises(AmbiguousSessionError, match="matches"):
        store.resolve(prefix)


def test_last_in_an_empty_database(store):
    with pytest.raises(UnknownSessionError, match="no sessions recorded"):
        store.resolve("last")


# --- writers that vanish ----------------------------------------------------------------


def test_dead_writer_session_reads_interrupted(tmp_path):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        session_id = new_session(store)
        raw_sql(store, "UPDATE sessions SET pid = ? WHERE id = ?", (dead_pid(), session_id))
        assert store.session(session_id).status == "interrupted"
    with SessionStore.open(path, create=False) as store:
        info = store.session(session_id)
        assert info.status == "interrupted" and "stopped without closing" in info.error
        assert info.ended_at is not None


def test_remote_writer_is_judged_by_heartbeat(store):
    silent, alive = new_session(store), new_session(store)
    raw_sql(store, "UPDATE sessions SET hostname = 'gpu-box', heartbeat_at = ? WHERE id = ?",
            (time.time() - 3600, silent))  # fmt: skip
    raw_sql(store, "UPDATE sessions SET hostname = 'gpu-box' WHERE id = ?", (alive,))
    statuses = {s.id: s.status for s in store.sessions()}
    assert statuses == {silent: "interrupted", alive: "running"}
    # It was only silent: the next heartbeat brings it back.
    store.heartbeat(silent)
    assert store.session(silent).status == "running"
    assert store.session(silent).ended_at is None


def test_sigkill_mid_session_leaves_an_intact_gapless_database(tmp_path):
    path = tmp_path / "killed.db"
    writer = start_writer(path, count=-1, delay_s=0)
    session_id = writer.stdout.readline().strip()
    committed = -1
    while committed < 60:
        committed = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    # Seqs printed after the last one read were committed too, but never more than one
    # write can be in flight: the file holds at least every acknowledged sample.
    with SessionStore.open(path, create=False) as store:
        assert raw_sql(store, "PRAGMA integrity_check").fetchone()[0] == "ok"
        records = store.samples(session_id)
        info = store.session(session_id)
    assert len(records) > committed
    assert [r.seq for r in records] == list(range(len(records)))
    assert records == [full_record(session_id, seq) for seq in range(len(records))]
    assert info.status == "interrupted"
    assert info.sample_count == len(records)


# --- refusing bad inputs (and writing nothing) ------------------------------------------


def test_missing_file_is_not_created(tmp_path):
    path = tmp_path / "nope" / "sessions.db"
    with pytest.raises(StoreNotFoundError) as err:
        SessionStore.open(path, create=False)
    assert str(path) in str(err.value) and "vlmtop sessions" in str(err.value)
    assert not path.parent.exists()


def test_non_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 10)
    before = folder_state(tmp_path)
    for create in (True, False):
        with pytest.raises(NotASessionDatabaseError, match="not an SQLite database"):
            SessionStore.open(path, create=create)
    assert folder_state(tmp_path) == before
    with pytest.raises(NotASessionDatabaseError, match="folder"):
        SessionStore.open(tmp_path)


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("PRAGMA application_id = 1234")
    conn.commit()
    conn.close()
    before = folder_state(tmp_path)
    for create in (True, False):
        with pytest.raises(ForeignDatabaseError, match="another application") as err:
            SessionStore.open(path, create=create)
        assert "recipes" in str(err.value)
    assert folder_state(tmp_path) == before


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "future.db"
    with SessionStore.open(path) as store:
        record_session(store, 2)
        raw_sql(store, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = folder_state(tmp_path)
    for create in (True, False):
        with pytest.raises(NewerSchemaError, match="newer vlmtop.*upgrade"):
            SessionStore.open(path, create=create)
    assert folder_state(tmp_path) == before


def test_store_errors_are_vlmtop_errors():
    for cls in (StoreNotFoundError, NotASessionDatabaseError, ForeignDatabaseError,
                NewerSchemaError, UnknownSessionError, AmbiguousSessionError):  # fmt: skip
        assert issubclass(cls, VlmtopError)


def test_settings_that_json_cannot_hold_are_stored_as_text(store, tmp_path):
    session_id = store.create_session("m", "cpu", "bf16", {"samples": tmp_path}, {})
    assert store.session(session_id).settings == {"samples": str(tmp_path)}
    assert json.loads(raw_sql(store, "SELECT settings FROM sessions").fetchone()[0])


def test_launcher_chosen_id_and_later_corrections(store):
    chosen = new_session_id()
    assert store.create_session("tiny", "auto", "auto", {}, {}, session_id=chosen) == chosen
    with pytest.raises(StoreError, match="already exists"):
        store.create_session("tiny", "auto", "auto", {}, {}, session_id=chosen)
    store.update_session(chosen, device="cuda:0", dtype="bfloat16", settings={"warmup": 2})
    info = store.session(chosen)
    assert (info.device, info.dtype, info.settings) == ("cuda:0", "bfloat16", {"warmup": 2})
    with pytest.raises(ValueError, match="changes only"):
        store.update_session(chosen, status="completed")
    with pytest.raises(UnknownSessionError):
        store.update_session("nosuch", device="cpu")
