"""Faults around the store: a full disk, I/O errors and locks give one line, keep every
committed sample, and never a traceback from sqlite3."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from helpers_store import full_record, new_session, raw_sql

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore, StoreError, StoreLockedError, StoreWriteError
from vlmtop.sessions.store.errors import StoreFullError


def _fill(store: SessionStore, session_id: str) -> tuple[int, StoreError]:
    """Write samples until the store refuses one; the seqs committed and the error."""
    seq = 0
    while True:
        try:
            store.write_sample(full_record(session_id, seq))
        except StoreError as exc:
            return seq, exc
        seq += 1
        assert seq < 100_000, "the store never filled up"


def test_a_full_database_is_one_line_and_keeps_every_committed_sample(tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        session_id = new_session(store)
        pages = raw_sql(store, "PRAGMA page_count").fetchone()[0]
        # SQLITE_FULL without a small filesystem: the file may not grow past this.
        raw_sql(store, f"PRAGMA max_page_count = {pages + 3}")
        committed, exc = _fill(store, session_id)
        assert isinstance(exc, StoreFullError) and isinstance(exc, StoreWriteError)
        line = str(exc)
        assert "\n" not in line
        assert f"sample {committed} of session {session_id}" in line
        assert str(db) in line and "free" in line
        # An update in place still fits: the session says why it failed.
        assert store.record_fault(session_id, line) == "failed"
    with SessionStore.open(db, readonly=True) as store:
        info = store.session(session_id)
        assert info.status == "failed" and "is full" in info.error
        assert info.sample_count == committed > 0
        assert [r.seq for r in store.samples(session_id)] == list(range(committed))
        assert store.samples(session_id) == [full_record(session_id, s) for s in range(committed)]


@pytest.fixture
def small_filesystem(tmp_path):
    """A 320 kB tmpfs mounted for the test (we may be root); skipped where it cannot be."""
    folder = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(folder)],
                          capture_output=True)  # fmt: skip
    if made.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_really_full_disk_is_one_line_and_keeps_every_committed_sample(small_filesystem):
    db = small_filesystem / "s.db"
    with SessionStore.open(db) as store:
        session_id = new_session(store)
        committed, exc = _fill(store, session_id)
        assert isinstance(exc, StoreWriteError), exc
        assert str(db) in str(exc) and "free" in str(exc) and "\n" not in str(exc)
        status = store.record_fault(session_id, str(exc))
        assert status in ("failed", "interrupted")
    with SessionStore.open(db, readonly=True) as store:
        assert [r.seq for r in store.samples(session_id)] == list(range(committed))
        assert store.session(session_id).sample_count == committed > 0


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    # Another program, e.g. the sqlite3 shell (usable from a timer thread to let go).
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_lock_held_too_long_is_one_line_naming_the_file(tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        session_id = new_session(store)
        store.write_sample(full_record(session_id, 0))
        store.set_lock_wait(0.2)
        other = _hold_write_lock(db)
        with pytest.raises(StoreLockedError) as caught:
            store.write_sample(full_record(session_id, 1))
        assert str(db) in str(caught.value) and "another program" in str(caught.value)
        assert "sample 1 of session" in str(caught.value)
        other.execute("ROLLBACK")
        other.close()
        # Nothing half-written: the same sample goes in once the lock is gone.
        store.write_sample(full_record(session_id, 1))
        assert [r.seq for r in store.samples(session_id)] == [0, 1]


def test_a_transient_lock_is_waited_out_and_no_sample_is_dropped(tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        session_id = new_session(store)
        other = _hold_write_lock(db)
        release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
        release.start()
        for seq in range(3):
            store.write_sample(full_record(session_id, seq))
        release.join()
        other.close()
        assert store.session(session_id).sample_count == 3


def test_sessions_command_on_a_locked_file_exits_2_with_one_line(tmp_path, capsys):
    # An exported .db is in rollback-journal mode: there a writer's lock blocks readers.
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        new_session(store)
        store.use_rollback_journal()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert main(["sessions", "--db", str(db)]) == 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another program" in err and str(db) in err


def test_a_run_that_fills_the_disk_ends_in_one_line_with_exit_2(small_filesystem):
    import sys

    db = small_filesystem / "s.db"
    done = subprocess.run([sys.executable, "-m", "vlmtop", "run", "--headless", "--count", "100000",
                           "--max-new-tokens", "2", "--warmup", "none", "--db", str(db)],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "is full" in done.stderr and "Traceback" not in done.stderr
    with SessionStore.open(db, create=False, readonly=True) as store:
        (info,) = store.sessions()
        rows = store.samples(info.id)
    # failed where the reason still fitted, else interrupted now that the writer is gone
    assert info.status in ("failed", "interrupted") and len(rows) > 0
    assert [r.seq for r in rows] == list(range(len(rows)))  # every committed sample, gapless


def test_a_repeat_run_that_fills_the_disk_stops_with_the_reason(small_filesystem):
    import sys

    db = small_filesystem / "s.db"
    done = subprocess.run([sys.executable, "-m", "vlmtop", "run", "--repeat", "3", "--count", "100000",
                           "--max-new-tokens", "2", "--warmup", "none", "--db", str(db)],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = [line for line in done.stderr.splitlines() if "stopped at process 1:" in line]
    assert "is full" in line and "Traceback" not in done.stderr  # the worker's own reason, said once
    with SessionStore.open(db, create=False, readonly=True) as store:
        (info,) = store.sessions()  # no second process was started on the full disk
        rows = store.samples(info.id)
    assert rows and [r.seq for r in rows] == list(range(len(rows)))  # every committed sample, gapless


def _recorded(tmp_path: Path, count: int = 40) -> Path:
    from helpers_store import record_session

    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        record_session(store, count)
    return db


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "sqlite"])
def test_an_export_to_a_full_disk_is_one_line_naming_the_file(small_filesystem, tmp_path, fmt, capsys):
    db = _recorded(tmp_path)
    # The test's own filler takes all the space: the export meets ENOSPC at its first pages.
    with (small_filesystem / "filler").open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    out = small_filesystem / f"x.{fmt}"
    assert main(["export", "last", "-f", fmt, "-o", str(out), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and "free" in err, err
    assert sorted(p.name for p in small_filesystem.iterdir()) == ["filler"]  # nothing half-written


@pytest.mark.parametrize("fmt", ["csv", "trace", "parquet"])
def test_an_export_to_standard_output_on_a_full_device_is_one_line(tmp_path, fmt):
    import sys

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    db = _recorded(tmp_path)
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "vlmtop", "export", "last", "-f", fmt, "-o", "-",
                               "--db", str(db)], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "standard output" in line and "No space left" in line
