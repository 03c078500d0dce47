"""The last safety items of issue 19: a backup is private, --force keeps the replaced
file's mode, the default database is tightened, the worker never imports from the cwd
(the Python 3.10 command line too), and a dashboard says why its worker stopped on a
full disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers_store import record_session

from vlmtop.cli import main
from vlmtop.sessions.export import export_session
from vlmtop.sessions.store import SessionStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def recorded(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        yield store, record_session(store, 3)


# -- 1. a backup is 0600 ---------------------------------------------------------------


def test_a_backup_is_private_whatever_the_umask(recorded, tmp_path, umask_022, capsys):
    store, session_id = recorded
    whole, one = tmp_path / "whole.db", tmp_path / "one.db"
    assert main(["backup", "-o", str(whole), "--db", str(store.path)]) == 0
    assert main(["backup", session_id, "-o", str(one), "--db", str(store.path)]) == 0
    assert _mode(whole) == 0o600 and _mode(one) == 0o600
    with SessionStore.open(one, readonly=True) as backed:  # still a whole, readable copy
        assert backed.session(session_id).sample_count == 3
    # An export stays shareable: the user's usual mode for a new file.
    shared = tmp_path / "shared.db"
    assert main(["export", session_id, "-o", str(shared), "--db", str(store.path)]) == 0
    assert _mode(shared) == 0o644


# -- 2. --force keeps the replaced file's mode ------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])  # unnamed_output, and named_part
@pytest.mark.parametrize("kept", [0o600, 0o640, 0o666], ids=oct)
def test_a_replaced_file_keeps_its_mode(recorded, tmp_path, umask_022, fmt, kept):
    store, session_id = recorded
    out = tmp_path / f"x.{fmt}"
    out.write_text("old")
    out.chmod(kept)  # 0666: wider than the umask allows a new file, kept all the same
    assert export_session(store, session_id, fmt, out, overwrite=True) == 3
    assert _mode(out) == kept
    assert out.read_bytes() != b"old"


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_a_read_only_target_is_replaced_and_stays_read_only(recorded, tmp_path, umask_022, fmt):
    store, session_id = recorded
    out = tmp_path / f"x.{fmt}"
    out.write_text("old")
    out.chmod(0o400)  # SQLite still opens its part file: owner write until it is complete
    assert export_session(store, session_id, fmt, out, overwrite=True) == 3
    assert _mode(out) == 0o400


def test_a_new_export_keeps_the_umask_mode(recorded, tmp_path):
    store, session_id = recorded
    old = os.umask(0o027)
    try:
        for fmt in ("csv", "sqlite"):
            out = tmp_path / f"new.{fmt}"
            export_session(store, session_id, fmt, out)
            assert _mode(out) == 0o640, fmt
    finally:
        os.umask(old)


def test_a_backup_replaced_with_force_keeps_its_mode(recorded, tmp_path, umask_022, capsys):
    store, _ = recorded
    out = tmp_path / "b.db"
    out.write_text("old")
    out.chmod(0o640)
    assert main(["backup", "-o", str(out), "--db", str(store.path), "--force"]) == 0
    assert _mode(out) == 0o640


# -- 3. the default database of an older vlmtop is tightened ---------------------------


def _loosened_default(tmp_path, monkeypatch) -> SessionStore:
    """The default database as an older vlmtop left it: 0644 files (its -wal and -shm
    too: the writer is left open) in a 0755 folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("VLMTOP_DB", raising=False)
    from vlmtop.sessions.store.paths import default_db_path

    store = SessionStore.open(default_db_path())
    record_session(store, 2)
    for path in store.path.parent.iterdir():
        path.chmod(0o644)
    store.path.parent.chmod(0o755)
    return store


def test_an_old_default_database_is_made_private_when_opened(tmp_path, monkeypatch, capsys):
    with _loosened_default(tmp_path, monkeypatch) as store:
        files = sorted(store.path.parent.iterdir())
        xdg_mode = _mode(tmp_path / "data")
        assert [p.name for p in files] == ["sessions.db", "sessions.db-shm", "sessions.db-wal"]
        assert main(["sessions"]) == 0
        assert "no sessions" not in capsys.readouterr().out
        assert [_mode(p) for p in files] == [0o600] * 3
        assert _mode(store.path.parent) == 0o700
        assert _mode(tmp_path / "data") == xdg_mode  # XDG_DATA_HOME itself is not vlmtop's


def test_a_database_the_user_named_keeps_its_mode(tmp_path, monkeypatch, capsys):
    with _loosened_default(tmp_path, monkeypatch) as store:
        db = store.path
        assert main(["sessions", "--db", str(db)]) == 0  # the same file, but given with --db
        monkeypatch.setenv("VLMTOP_DB", str(db))
        assert main(["sessions"]) == 0
        assert _mode(db) == 0o644 and _mode(db.parent) == 0o755


# -- 4. the worker imports nothing from the cwd, on Python 3.10 too ---------------------


def test_the_python_3_10_worker_command_runs_no_code_from_the_current_directory(tmp_path):
    import subprocess

    from vlmtop.sessions.run.process import worker_command
    from vlmtop.sessions.run.worker import RunSettings

    planted = tmp_path / "cwd"
    planted.mkdir()
    marker = tmp_path / "ran"
    for name in ("torch.py", "runpy.py", "json.py"):  # what the worker and its start import
        (planted / name).write_text(f"open({str(marker)!r}, 'w').write('planted code ran')\nraise SystemExit(9)\n")
    db = tmp_path / "s.db"
    settings = RunSettings(count=1, max_new_tokens=2, warmup="none", threads=1)
    command = worker_command(db, "cwdcheck10", settings, version=(3, 10))
    assert "-P" not in command and "-I" not in command  # 3.10 has no -P; -I drops PYTHONPATH
    # The same interpreter runs the 3.10 form: without -P, `-c` puts the cwd first on sys.path too.
    done = subprocess.run(command, cwd=planted, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr[-1500:]
    assert not marker.exists()
    with SessionStore.open(db, create=False) as store:
        assert store.session("cwdcheck10").measured_count == 1


# -- 5. a dashboard says why its worker stopped, though the log's disk is full ----------


async def test_the_worker_s_reason_reaches_the_dashboard_when_its_log_cannot_be_written(tmp_path, capsys, monkeypatch):
    import sqlite3
    import time

    from vlmtop.sessions.playback import LiveTail
    from vlmtop.sessions.run.process import start_worker
    from vlmtop.sessions.run.worker import RunSettings
    from vlmtop.tui.app import VlmtopApp
    from vlmtop.tui.launch import reap, report_end, wait_for_session

    db = tmp_path / "s.db"
    SessionStore.open(db, create=True).close()
    monkeypatch.setenv("VLMTOP_LOCK_WAIT_S", "5")  # the worker gives up on the lock below soon
    settings = RunSettings(max_new_tokens=2, warmup="none", threads=1)  # runs until it fails
    # /dev/full answers every write with ENOSPC, as a log on the database's full disk does.
    worker, output = start_worker(db, "fullcheck1", settings, Path("/dev/full"))
    other = None
    try:
        store = wait_for_session(db, "fullcheck1", worker, output)
        deadline = time.monotonic() + 240  # importing torch on a loaded machine
        while store.session("fullcheck1").sample_count < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        # Another program holds the write lock past the worker's wait: the worker can write
        # neither its next sample nor the session's reason, and exits 2 with one line.
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        app = VlmtopApp(store, LiveTail(store, "fullcheck1"), worker=worker, worker_said=output.reason)
        async with app.run_test(size=(100, 30)) as pilot:
            deadline = time.monotonic() + 120
            while not app._notified_end and time.monotonic() < deadline:
                await pilot.pause(0.1)
            # the session may read ended a moment before the process is reaped: wait for it
            assert worker.wait(timeout=60) == 2, list(output.lines)
            assert store.session("fullcheck1").status == "interrupted"  # the row could not say why
            said = [n.message for n in app._notifications if "another program" in n.message]
            assert said and str(db) in said[0], [n.message for n in app._notifications]
        other.execute("ROLLBACK")
        assert report_end(store, "fullcheck1", output.reason()) == 2
        err = capsys.readouterr().err
        assert "fullcheck1 interrupted:" in err and "another program" in err
        store.close()
    finally:
        if other is not None:
            other.close()
        reap(worker)
