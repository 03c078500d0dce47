"""Where the session database lives when ``--db`` is not given."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DB_FILENAME = "sessions.db"


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
    """The database a command uses: its ``--db`` value, else the default."""
    return Path(option).expanduser() if option else default_db_path()
