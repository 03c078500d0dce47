"""A --db that is no regular file (a FIFO, a character device, a socket, a folder) is
refused in one line, exit 2, before anything is opened or created; an export never writes
over the database's own -wal, -shm or -journal; a database created through a dangling
symlink is private (0600) as any other."""

from __future__ import annotations

import os
import socket
import stat
import threading

import pytest
from helpers_store import record_session

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore

COMMANDS = [
    ["sessions"],
    ["export", "last", "-o", "{tmp}/x.csv"],
    ["backup", "-o", "{tmp}/b.db"],
    ["compare", "last"],
    ["report", "last", "-o", "{tmp}/r.html"],
    ["rm", "last", "--yes"],
    ["stop", "last"],
    ["run", "--headless", "--count", "1"],
]


def _names(folder) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*"))  # names only: a FIFO is never opened


def _special(kind: str, tmp_path):
    if kind == "fifo":
        os.mkfifo(tmp_path / "db")
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(tmp_path / "db"))
        sock.close()
    elif kind == "folder":
        (tmp_path / "db").mkdir()
    elif kind == "device":
        return "/dev/null", "a character device"
    return str(tmp_path / "db"), {"fifo": "a FIFO", "socket": "a socket", "folder": "a folder"}[kind]


@pytest.mark.parametrize("kind", ["fifo", "device", "socket", "folder"])
def test_a_special_file_as_db_is_refused_in_one_line(kind, tmp_path, capsys):
    db, words = _special(kind, tmp_path)
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    before = _names(tmp_path), set(os.listdir("/dev"))
    # A FIFO opened by SQLite (or read for its header) waits for a writer: end it from here
    # should the refusal not come, so the test fails rather than hangs.
    done = threading.Event()
    if kind == "fifo":
        def unblock():
            if not done.wait(60):
                with open(db, "wb"):
                    pass
        threading.Thread(target=unblock, daemon=True).start()
    try:
        for argv in COMMANDS:
            argv = [a.format(tmp=out_folder) for a in argv]
            assert main([*argv, "--db", db]) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and words in err and "not a session database" in err, (argv, err)
    finally:
        done.set()
    assert (_names(tmp_path), set(os.listdir("/dev"))) == before  # nothing created (no /dev/null-journal)


def test_an_export_never_writes_over_the_databases_side_files(tmp_path, capsys):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        record_session(store, 3)
    for side in ("-wal", "-shm", "-journal"):
        target = f"{db}{side}"
        for fmt in ("sqlite", "csv"):
            assert main(["export", "last", "-f", fmt, "-o", target, "--force", "--db", str(db)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "belongs to the database being exported" in err, err
        assert not os.path.exists(target) or side == "-wal"  # (a reader may leave the WAL)
    with SessionStore.open(db, readonly=True) as store:
        assert len(store.sessions()) == 1


def test_a_database_created_through_a_dangling_symlink_is_private(tmp_path, capsys):
    target, link = tmp_path / "real.db", tmp_path / "link.db"
    link.symlink_to(target)
    old = os.umask(0o022)
    try:
        with SessionStore.open(link) as store:
            record_session(store, 2)
    finally:
        os.umask(old)
    assert link.is_symlink() and stat.S_IMODE(os.stat(target).st_mode) == 0o600
