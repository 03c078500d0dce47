"""Safety of the store's files: reused pids, permissions, bounded
control values, export targets that are not regular files, killed exports, backup."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_store import full_record, new_session, raw_sql, record_session

from vlmtop.cli import main
from vlmtop.sessions.export import ExportError, export_session
from vlmtop.sessions.store import SessionStore, StoreError


def test_a_reused_pid_does_not_keep_a_dead_session_running(tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        session_id = new_session(store)
    # The writer died; its pid now belongs to a process started long after the session.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute(
            "UPDATE sessions SET pid = ?, hostname = ?, started_at = ?, heartbeat_at = ?",
            (stranger.pid, socket.gethostname(), time.time() - 600, time.time() - 600),
        )
        conn.close()
        with SessionStore.open(db, readonly=True) as store:
            info = store.session(session_id)
        assert info.status == "interrupted", info
        assert f"pid {stranger.pid}" in info.error
    finally:
        stranger.kill()
        stranger.wait()


def test_a_live_writer_still_reads_running(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        session_id = new_session(store)  # this process: started before the session
        assert store.session(session_id).status == "running"


def test_the_default_database_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("VLMTOP_DB", raising=False)
    from vlmtop.sessions.store.paths import default_db_path

    db = default_db_path()
    with SessionStore.open(db) as store:
        record_session(store, 2)
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    for path in db.parent.iterdir():  # sessions.db, and its -wal and -shm
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_control_value_is_bounded(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        session_id = new_session(store)
        with pytest.raises(StoreError, match="too long"):
            store.add_control(session_id, "cache", "x" * 2_000_000)
        assert store.controls(session_id) == []
        store.add_control(session_id, "cache", "empty")


RECORDED_COUNT = 5  # the samples of the `recorded` fixture's session (conftest.py)



def test_export_writes_into_a_device_in_place_and_never_replaces_it(recorded, tmp_path):
    store, session_id = recorded
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    for fmt in ("csv", "sqlite"):
        assert export_session(store, session_id, fmt, device) == 5
        assert stat.S_ISCHR(device.stat().st_mode)


def test_export_into_a_fifo_feeds_its_reader(recorded, tmp_path):
    store, session_id = recorded
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    export_session(store, session_id, "csv", fifo)
    out, _ = reader.communicate(timeout=30)
    assert len(out.splitlines()) == 6 and stat.S_ISFIFO(fifo.stat().st_mode)


def test_export_follows_a_symlink_and_asks_before_overwriting(recorded, tmp_path):
    store, session_id = recorded
    target = tmp_path / "real.csv"
    target.write_text("mine")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.raises(ExportError, match="--force"):
        export_session(store, session_id, "csv", link)
    assert target.read_text() == "mine"
    export_session(store, session_id, "csv", link, overwrite=True)
    assert link.is_symlink() and len(target.read_text().splitlines()) == 6


def test_the_cli_refuses_to_overwrite_without_force(recorded, tmp_path, capsys):
    store, session_id = recorded
    out = tmp_path / "x.csv"
    out.write_text("mine")
    args = ["export", session_id, "-o", str(out), "--db", str(store.path)]
    assert main(args) == 2 and out.read_text() == "mine"
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0 and out.read_text().startswith("session_id,")


def _bulk_session(db: Path, count: int) -> str:
    with SessionStore.open(db) as store:
        session_id = new_session(store)
        store.write_sample(full_record(session_id, 0))
        row = raw_sql(store, "SELECT * FROM samples").fetchone()
        names = [d[1] for d in raw_sql(store, "PRAGMA table_info(samples)")]
        seq = names.index("seq")
        marks = ", ".join("?" * len(names))
        rows = ([*row[:seq], n, *row[seq + 1:]] for n in range(1, count))
        conn = store.connection  # a bulk load, past the one-sample API
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO samples VALUES ({marks})", rows)
        conn.execute("UPDATE sessions SET sample_count = ?", (count,))
        conn.execute("COMMIT")
    return session_id


@pytest.mark.parametrize("fmt,sig", [("csv", signal.SIGKILL), ("sqlite", signal.SIGTERM)])
def test_a_killed_export_leaves_nothing_behind(tmp_path, fmt, sig):
    db = tmp_path / "src" / "s.db"
    db.parent.mkdir()
    session_id = _bulk_session(db, 60_000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    export = subprocess.Popen(
        [sys.executable, "-m", "vlmtop", "export", session_id, "-f", fmt,
         "-o", str(out_dir / f"x.{fmt}"), "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Kill it once it holds its output file open, whatever that file is called.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and export.poll() is None:
        try:
            targets = [os.readlink(f) for f in Path(f"/proc/{export.pid}/fd").iterdir()]
        except OSError:
            targets = []
        if any(t.startswith(str(out_dir)) for t in targets):
            break
        time.sleep(0.001)
    export.send_signal(sig)
    export.wait(timeout=60)
    assert sorted(p.name for p in out_dir.iterdir()) in ([], [f"x.{fmt}"])
    assert not any(p.name.endswith(".part") for p in out_dir.iterdir())


def test_backup_copies_rows_still_in_the_write_ahead_log(tmp_path, capsys):
    db = tmp_path / "s.db"
    store = SessionStore.open(db)  # left open: its rows stay in the -wal, as after kill -9
    session_id = record_session(store, 7)
    assert Path(f"{db}-wal").stat().st_size > 0
    copy = tmp_path / "copy.db"
    assert main(["backup", "-o", str(copy), "--db", str(db)]) == 0
    with SessionStore.open(copy, readonly=True) as backed:
        assert backed.session(session_id).sample_count == 7
        assert len(backed.samples(session_id)) == 7
    assert main(["backup", "-o", str(copy), "--db", str(db)]) == 2  # exists: needs --force
    one = tmp_path / "one.db"
    assert main(["backup", session_id, "-o", str(one), "--db", str(db)]) == 0
    with SessionStore.open(one, readonly=True) as backed:
        assert [s.id for s in backed.sessions()] == [session_id]
    store.close()


def _killed_when_writing(argv: list[str], out_dir: Path, sig: int) -> None:
    """Run vlmtop ``argv`` and send ``sig`` once it holds a file in ``out_dir`` open."""
    proc = subprocess.Popen([sys.executable, "-m", "vlmtop", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            targets = [os.readlink(f) for f in Path(f"/proc/{proc.pid}/fd").iterdir()]
        except OSError:
            targets = []
        if any(t.startswith(str(out_dir)) for t in targets):
            break
        time.sleep(0.001)
    proc.send_signal(sig)
    proc.wait(timeout=60)


def test_a_stopped_backup_leaves_no_part_nor_journal(tmp_path):
    db = tmp_path / "src" / "s.db"
    db.parent.mkdir()
    _bulk_session(db, 60_000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _killed_when_writing(["backup", "-o", str(out_dir / "b.db"), "--db", str(db)], out_dir, signal.SIGTERM)
    assert sorted(p.name for p in out_dir.iterdir()) in ([], ["b.db"])


def test_parts_of_killed_exports_are_removed_by_the_next_one(tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        session_id = record_session(store, 3)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(gone.stdout)  # a process that has ended: what SIGKILL leaves behind
    stale = [f".x.db.{dead}.0badf00d.part", f".x.db.{dead}.0badf00d.part-journal"]
    kept = [f".x.db.{os.getppid()}.0badf00d.part", ".x.db.notes", f".x.db.{dead}.part"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    assert main(["export", session_id, "-o", str(tmp_path / "x.db"), "--db", str(db)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(stale) and set(kept) <= names and "x.db" in names
    assert main(["backup", "-o", str(tmp_path / "x.db"), "--force", "--db", str(db)]) == 0
    assert not any(n.endswith(".part") for n in os.listdir(tmp_path) if n not in kept)
