"""The modes of the files vlmtop writes: a backup is private whatever the umask, --force
keeps the replaced file's mode, a new export takes the umask's, and the default database an
older vlmtop left readable by others is tightened when opened."""

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


RECORDED_COUNT = 3  # the samples of the `recorded` fixture's session (conftest.py)



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
