"""A session database on read-only media: readers work, writers say so in one line.

We run as root here, and root ignores file modes, so a 0444 file alone proves nothing.
These tests make the folder or file truly read-only with ``chattr +i`` (the immutable
flag binds root too) and skip where the filesystem does not support it; the URI path
(``readonly=True``) is tested everywhere.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import error_line
from helpers_store import folder_state, raw_sql, record_session

from vlmtop.cli import main
from vlmtop.sessions.store import ReadOnlyStoreError, SessionStore


@contextmanager
def immutable(*paths: Path):
    """``chattr +i`` on ``paths`` for the block; skip the test where that is impossible."""
    if not shutil.which("chattr"):
        pytest.skip("chattr is not installed")
    done = []
    try:
        for path in paths:
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
                pytest.skip(f"cannot make {path} immutable here (chattr +i refused)")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def copied_database(tmp_path: Path) -> tuple[Path, list[str]]:
    """A recorded database copied, as a user would, into a folder of its own: the file
    alone, in WAL mode, with no -wal or -shm beside it."""
    source = tmp_path / "recorded" / "s.db"
    source.parent.mkdir()
    with SessionStore.open(source) as store:
        ids = [record_session(store, 30), record_session(store, 30)]
    share = tmp_path / "share"
    share.mkdir()
    shutil.copy(source, share / "s.db")
    conn = sqlite3.connect(share / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    (share / "s.db").chmod(0o444)
    return share / "s.db", ids


def test_readers_work_in_a_read_only_folder(tmp_path, capsys):
    db, ids = copied_database(tmp_path)
    before = folder_state(db.parent)
    with immutable(db.parent):
        assert main(["sessions", "--db", str(db), "--json"]) == 0
        assert ids[0] in capsys.readouterr().out
        out = tmp_path / "out.csv"
        assert main(["export", ids[0], "-o", str(out), "--db", str(db)]) == 0
        assert "wrote 30 samples" in capsys.readouterr().out
        shared = tmp_path / "again.db"
        assert main(["export", ids[1], "-o", str(shared), "--db", str(db)]) == 0
        assert main(["compare", ids[0], ids[1], "--db", str(db), "--json"]) == 0
        capsys.readouterr()
        with SessionStore.open(db, create=False) as store:  # what replay and attach do
            assert store.readonly and len(store.samples(ids[1])) == 30
        # Writing needs a writable file: one line, exit 2, for each writing command.
        for args in (["stop", ids[0]], ["rm", ids[0], "--yes"], ["prune", "--yes"]):
            assert main([*args, "--db", str(db)]) == 2
            assert "read-only" in error_line(capsys)
        assert main(["run", "--headless", "--count", "1", "--db", str(db)]) == 2
        assert "read-only" in error_line(capsys)
    assert folder_state(db.parent) == before
    with SessionStore.open(shared, readonly=True) as copy:
        assert [s.id for s in copy.sessions()] == [ids[1]]


def test_an_immutable_file_in_a_writable_folder(tmp_path, capsys):
    db, ids = copied_database(tmp_path)
    with immutable(db):
        assert main(["sessions", "--db", str(db), "--json"]) == 0
        assert ids[1] in capsys.readouterr().out
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            SessionStore.open(db, create=True)


def test_a_pending_write_ahead_log_without_its_shm_is_refused_not_misread(tmp_path, capsys):
    # Copied while a worker was writing: the newest rows are only in s.db-wal. Read-only
    # SQLite cannot use that log without a -shm, and immutable mode would silently skip it.
    source = tmp_path / "live.db"
    share = tmp_path / "share"
    share.mkdir()
    with SessionStore.open(source) as store:
        record_session(store, 3)
        shutil.copy(source, share / "s.db")
        shutil.copy(f"{source}-wal", share / "s.db-wal")
    assert (share / "s.db-wal").stat().st_size > 0
    with immutable(share):
        assert main(["sessions", "--db", str(share / "s.db")]) == 2
        assert "write-ahead log" in error_line(capsys)


def test_opening_read_only_never_writes(tmp_path):
    # Everywhere, chattr or not: readonly=True opens with query_only, so no statement can
    # write, and a file needing a migration is read as it is.
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        session_id = record_session(store, 3)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE events DROP COLUMN value")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    before = folder_state(tmp_path)
    with SessionStore.open(path, readonly=True) as store:
        assert store.readonly and len(store.samples(session_id)) == 3
        assert [e.value for e in store.events(session_id)] == [None, None]
        with pytest.raises(ReadOnlyStoreError):
            store.finish_session(session_id, "failed")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            raw_sql(store, "DELETE FROM samples")
    assert folder_state(tmp_path) == before
