"""Sessions over their life: judged without writing, `last`, stop, rm and prune."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict

import pytest
from helpers import error_line
from helpers_store import new_session, raw_sql, record_session

from vlmtop.cli import main
from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import SessionRunningError, SessionStore, StoreError


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def raw_status(path, session_id) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
    finally:
        conn.close()


def test_the_store_keeps_its_connection_private(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        assert not hasattr(store, "db")
    with pytest.raises(sqlite3.ProgrammingError):  # closed on leaving the block
        store.sessions()


def test_reading_a_dead_writers_session_writes_nothing(tmp_path):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        session_id = new_session(store)
        raw_sql(store, "UPDATE sessions SET pid = ? WHERE id = ?", (dead_pid(), session_id))
        assert store.session(session_id).status == "interrupted"
        assert store.sessions()[0].status == "interrupted"
        assert raw_status(path, session_id) == "running"  # judged, not written
        store.create_session("next", "cpu", "float32", {})  # a writer saves the verdict
        assert raw_status(path, session_id) == "interrupted"


# --- `last` --------------------------------------------------------------------------------------


def failed_start(store: SessionStore, error: str) -> str:
    session_id = new_session(store)
    store.finish_session(session_id, "failed", error)
    return session_id


def test_last_skips_newer_sessions_without_measured_samples(tmp_path, capsys):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        good = record_session(store, 12)
        failed_start(store, "no module 'model.visoin'")
        typo = failed_start(store, "no module 'model.nowhere'")
        picked = store.lookup("last")
        assert store.resolve("last") == picked.id == good
        assert good in picked.note and "2 newer sessions" in picked.note
        assert typo in picked.note and "model.nowhere" in picked.note and "\n" not in picked.note
        assert store.lookup(good).note is None
    out = tmp_path / "last.csv"
    assert main(["export", "last", "-o", str(out), "--db", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"wrote 12 samples of session {good}" in captured.out
    assert captured.err.count("\n") == 1 and "last: session" in captured.err


def test_last_with_nothing_measured_says_so(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        failed_start(store, "first")
        newest = failed_start(store, "stage typo")
        picked = store.lookup("last")
        assert picked.id == newest and "no measured samples" in picked.note and "stage typo" in picked.note
        running = new_session(store)  # still recording, alive: what attach wants
        picked = store.lookup("last")
        assert picked.id == running and "running" in picked.note


# --- rm and prune --------------------------------------------------------------------------------


def test_rm_removes_sessions_with_all_their_rows(tmp_path, capsys):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        keep = record_session(store, 3)
        gone = [record_session(store, 4), record_session(store, 2)]
        sid = new_session(store)
        store.add_control(sid, "pause")
        store.finish_session(sid, "interrupted")
        gone.append(sid)
    assert main(["rm", gone[0][:8], gone[1], sid, "--yes", "--db", str(path)]) == 0
    assert "removed 3 sessions (6 samples)" in capsys.readouterr().out
    conn = sqlite3.connect(path)
    for table, key in (("sessions", "id"), ("samples", "session_id"), ("events", "session_id"), ("controls", "session_id")):
        assert {r[0] for r in conn.execute(f"SELECT DISTINCT {key} FROM {table}")} <= {keep}, table
    conn.close()


def test_rm_refuses_a_running_session_and_removes_nothing(tmp_path, capsys):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        done = record_session(store, 2)
        live = new_session(store)  # this process records it: a live writer
        with pytest.raises(SessionRunningError, match="vlmtop stop"):
            store.remove_sessions([done, live])
        assert [s.id for s in store.sessions()] == [done, live]  # one transaction: both stay
    assert main(["rm", done, live, "--yes", "--db", str(path)]) == 2
    assert "still running" in error_line(capsys)
    with SessionStore.open(path, readonly=True) as store:
        assert len(store.sessions()) == 2


def test_rm_and_prune_ask_first_and_refuse_without_a_terminal(tmp_path, capsys):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        session_id = record_session(store, 2)
        failed_start(store, "boom")
    # pytest's stdin is no terminal: no --yes, no removal
    assert main(["rm", session_id, "--db", str(path)]) == 2
    assert "--yes" in error_line(capsys)
    assert main(["prune", "--db", str(path)]) == 2
    assert "--yes" in error_line(capsys)
    with SessionStore.open(path, readonly=True) as store:
        assert len(store.sessions()) == 2


def run_on_a_terminal(args: list[str], answer: str) -> str:
    """Run `vlmtop ARGS` with its stdin on a real pseudo-terminal and type ``answer``."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vlmtop", *args], stdin=follower,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    os.close(follower)
    os.write(leader, answer.encode() + b"\n")
    out, err = proc.communicate(timeout=120)
    os.close(leader)
    return out + err


def test_confirmation_on_a_terminal(tmp_path):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        session_id = record_session(store, 2)
    said = run_on_a_terminal(["rm", session_id, "--db", str(path)], "n")
    assert "[y/N]" in said and "nothing removed" in said
    said = run_on_a_terminal(["rm", session_id, "--db", str(path)], "y")
    assert "removed 1 session (2 samples)" in said
    with SessionStore.open(path, readonly=True) as store:
        assert store.sessions() == []


def test_prune_removes_failed_and_empty_sessions_or_old_ones(tmp_path, capsys):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        good = record_session(store, 3)
        old = record_session(store, 3)
        raw_sql(store, "UPDATE sessions SET started_at = 1e9 WHERE id = ?", (old,))  # 2001
        failed = failed_start(store, "boom")
        empty = record_session(store, 0)
        live = new_session(store)
        assert {s.id for s in store.prune_candidates()} == {failed, empty}
    assert main(["prune", "--yes", "--db", str(path)]) == 0
    assert "removed 2 sessions" in capsys.readouterr().out
    assert main(["prune", "--older-than", "2020-01-01", "--yes", "--db", str(path)]) == 0
    assert "removed 1 session (3 samples)" in capsys.readouterr().out
    assert main(["prune", "--older-than", "7d", "--yes", "--db", str(path)]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    with SessionStore.open(path, readonly=True) as store:
        assert [s.id for s in store.sessions()] == [good, live]
    assert main(["prune", "--older-than", "last week", "--db", str(path)]) == 2
    assert "YYYY-MM-DD" in error_line(capsys)


# --- stop ----------------------------------------------------------------------------------------


def test_stop_needs_a_running_session(tmp_path, capsys):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        done = record_session(store, 1)
    assert main(["stop", done, "--db", str(path)]) == 2
    assert "completed, not running" in error_line(capsys)
    assert main(["stop", "--db", str(path)]) == 2
    assert "no session is running" in error_line(capsys)


def test_stop_ends_a_real_worker_from_another_process(tmp_path, capsys):
    from vlmtop.sessions.run.worker import RunSettings

    path = tmp_path / "s.db"
    SessionStore.open(path).close()
    settings = RunSettings(warmup="none", max_new_tokens=2, threads=1)  # no count: forever
    worker = subprocess.Popen(
        [sys.executable, "-m", "vlmtop.sessions.run.worker", str(path), "f00dcafe01", json.dumps(asdict(settings))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        with SessionStore.open(path, readonly=True) as store:
            while time.monotonic() < deadline and worker.poll() is None:
                if store.sessions() and store.sessions()[0].measured_count >= 1:
                    break
                time.sleep(0.2)
        assert worker.poll() is None, worker.stderr.read()
        assert main(["stop", "--db", str(path), "--wait", "120"]) == 0
        assert "session f00dcafe01: completed" in capsys.readouterr().out
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    with SessionStore.open(path, readonly=True) as store:
        info = store.session("f00dcafe01")
        (stop,) = [c for c in store.controls(info.id) if c.kind == "stop"]
        kinds = [e.kind for e in store.events(info.id)]
    assert info.status == "completed" and stop.status == "applied"
    assert "stop" in kinds and kinds[-1] == "end"


def test_a_store_opened_read_only_refuses_writes_in_one_line(tmp_path):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        session_id = new_session(store)
    with SessionStore.open(path, readonly=True) as store:
        for write in (
            lambda: store.write_sample(SampleRecord(session_id, 0)),
            lambda: store.write_event(EventRecord(session_id, 0, "pause")),
            lambda: store.request_stop(session_id),
            lambda: store.remove_sessions([session_id]),
        ):
            with pytest.raises(StoreError, match="cannot write to .*writable") as err:
                write()
            assert "\n" not in str(err.value)
