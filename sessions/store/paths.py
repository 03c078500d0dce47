"""Where the session database lives: ``--db``, else ``$VLMTOP_DB``, else the default."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

DB_FILENAME = "sessions.db"
DB_ENV = "VLMTOP_DB"  # one setting for every command, e.g. a project's own database


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/vlmtop/sessions.db``, else the platform's user data folder.

    XDG_DATA_HOME is honoured on every platform (not only Linux), so one setting moves
    the database on a macOS laptop and a Linux GPU box alike. Per the XDG spec a relative
    value is ignored.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "vlmtop" / DB_FILENAME
    return Path(platformdirs.user_data_dir("vlmtop")) / DB_FILENAME


def db_path(option: str | os.PathLike | None) -> Path:
    """The database a command uses: its ``--db`` value, else ``$VLMTOP_DB`` (when set and
    not empty), else :func:`default_db_path`. The option wins, as in git's ``--git-dir``
    over ``$GIT_DIR``: what is typed for one command beats what the shell holds."""
    if option:
        return Path(option).expanduser()
    from_env = os.environ.get(DB_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    db = default_db_path()
    make_private(db)
    return db


# The files SQLite keeps beside a database: writing any of them is writing the database.
SIDE_FILES = ("-wal", "-shm", "-journal")

_SPECIAL = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def special_file(path: str | os.PathLike) -> str | None:
    """What ``path`` (its target, through symlinks) is when it exists and is not a regular
    file, as words ("a FIFO (named pipe)"); None for a regular file or nothing there.
    SQLite on a FIFO waits forever for a writer, and on /dev/null reports an I/O error
    after creating a /dev/null-journal: such a --db is refused before anything is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _SPECIAL if test(mode)), "not a regular file")


def make_private(db: Path) -> None:
    """Take group and other permissions off vlmtop's own database, its -wal, -shm and
    -journal, and its folder, where this user owns them: an older vlmtop created them
    0644 in a 0755 folder, and they hold prompts, paths and host names (XDG: user data
    is private). Silent, and for the default database only: a --db or $VLMTOP_DB file
    is the user's, with the mode the user chose. Symlinks are left alone (the user put
    them there); a chmod that fails (read-only filesystem) leaves things as they were."""
    for path in (db.parent, db, *(Path(f"{db}{side}") for side in SIDE_FILES)):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_uid != os.getuid() or not st.st_mode & 0o077:
            continue
        if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            try:
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
            except OSError:
                pass
