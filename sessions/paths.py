"""Where the session database lives: ``--db``, else ``$VLMTOP_DB``, else the default."""

from __future__ import annotations

import os
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
    return Path(from_env).expanduser() if from_env else default_db_path()
