"""A control row no dashboard wrote (an id of 2^53 or more, negative, text, a blob) is
answered `rejected` with its reason, and every request written after it still works: the
worker reads and answers controls by their rowid, and new ids stay below 2^53."""

from __future__ import annotations

import sqlite3

import pytest
from helpers_store import raw_sql, record_session

from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore

POISON = {"2^53": 2**53, "2^63-1": 2**63 - 1, "negative": -5, "text": "seven", "blob": b"\x00\x01"}


def _untyped_ids(db) -> None:
    """The controls table as a hand-edited file may have it: its id a plain column (not
    SQLite's rowid), so it can hold text or a blob."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript("""
        CREATE TABLE controls2 (id, session_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT,
            created_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending', applied_seq INTEGER, answered_at REAL);
        INSERT INTO controls2 SELECT * FROM controls;
        DROP TABLE controls;
        ALTER TABLE controls2 RENAME TO controls;""")
    conn.close()


def _poison(db, session_id, bad_id) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO controls (id, session_id, kind, value, created_at, status) "
                 "VALUES (?, ?, 'pause', NULL, 1.0, 'pending')", (bad_id, session_id))
    conn.close()


@pytest.mark.parametrize("name", POISON)
def test_the_store_lists_a_poisoned_row_with_its_problem_and_later_ids_stay_readable(name, tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        sid = record_session(store, 2)
        raw_sql(store, "UPDATE sessions SET status = 'running'")
    if isinstance(POISON[name], (str, bytes)):
        _untyped_ids(db)
    _poison(db, sid, POISON[name])
    with SessionStore.open(db) as store:
        later = store.add_control(sid, "cache", "empty")
        assert 1 <= later < 2**53
        bad, good = sorted(store.pending_controls(sid), key=lambda c: bool(c.problem), reverse=True)
        assert bad.problem and "2^53" in bad.problem and not good.problem and good.id == later
        store.answer_control(bad.id, "rejected")
        store.answer_control(good.id, "applied", 3)
        assert store.pending_controls(sid) == []
        assert {c.status for c in store.controls(sid)} == {"rejected", "applied"}


@pytest.mark.parametrize("name", ["2^53", "2^63-1", "blob"])
def test_a_worker_rejects_a_poisoned_control_and_obeys_the_next(name, tmp_path):
    db = tmp_path / "s.db"
    steer = {}

    def on_sample(record):
        if record.seq == 0:  # another process writes the bad row, then a dashboard asks
            if name == "blob":
                _untyped_ids(db)
            _poison(db, record.session_id, POISON[name])
            with SessionStore.open(db, create=False) as store:
                steer["cache"] = store.add_control(record.session_id, "cache", "empty")
        if record.seq == 2:
            with SessionStore.open(db, create=False) as store:
                steer["stop"] = store.add_control(record.session_id, "stop")

    # count=6 bounds the run where the stop is never read (the old behaviour)
    assert Worker(RunSettings(count=6, warmup="none", max_new_tokens=2), db, on_sample=on_sample).run() == "completed"
    with SessionStore.open(db, create=False, readonly=True) as store:
        (info,) = store.sessions()
        assert info.sample_count == 3  # the stop after the bad row was obeyed
        assert [r.cache_policy for r in store.samples(info.id)] == ["keep", "empty", "empty"]
        controls = store.controls(info.id)
        assert [c.status for c in controls if c.problem] == ["rejected"]
        assert {c.id: c.status for c in controls if not c.problem} == {steer["cache"]: "applied", steer["stop"]: "applied"}
        rejected = [e for e in store.events(info.id) if e.kind == "rejected"]
        assert len(rejected) == 1 and "not a whole number" in rejected[0].detail
