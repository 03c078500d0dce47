"""Copying sessions between files: one session in from another session database (what
`vlmtop export --format sqlite` does; a store part, mixed into
:class:`~vlmtop.sessions.store.session_store.SessionStore`), and a whole database backed up
(`vlmtop backup`)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.store import schema
from vlmtop.sessions.store.connection import SqliteFile, free_space, uri, wal_pending
from vlmtop.sessions.store.errors import StoreError
from vlmtop.sessions.store.schema import VLMTOP_TABLES


class SessionCopying(SqliteFile):
    def copy_session_from(self, source_path: str | os.PathLike, session_id: str) -> None:
        """Copy one session (all its tables' rows) from another database file into this one.

        The source is attached read-only and read in one transaction: a consistent
        snapshot even while its writer keeps appending.
        """
        self._attach_readonly(Path(source_path))
        try:
            with self._transaction():
                for table in VLMTOP_TABLES:
                    key = "id" if table == "sessions" else "session_id"
                    mine = schema.table_columns(self._conn, table)
                    theirs = {r[1] for r in self._conn.execute(f"PRAGMA src.table_info({table})")}
                    shared = ", ".join(name for name in mine if name in theirs)
                    if not shared:  # an older source without this table
                        continue
                    self._conn.execute(
                        f"INSERT INTO main.{table} ({shared}) "
                        f"SELECT {shared} FROM src.{table} WHERE {key} = ?",
                        (session_id,),
                    )
        finally:
            self._conn.execute("DETACH DATABASE src")

    def _attach_readonly(self, source: Path) -> None:
        try:
            self._conn.execute("ATTACH DATABASE ? AS src", (uri(source, "ro"),))
            self._conn.execute("SELECT count(*) FROM src.sqlite_master").fetchone()
            return
        except sqlite3.OperationalError:
            # A WAL file in a read-only folder, without its -shm: as in connection.py,
            # immutable is right there unless a -wal with changes lies beside it.
            if any(row[1] == "src" for row in self._conn.execute("PRAGMA database_list")):
                self._conn.execute("DETACH DATABASE src")
        if wal_pending(source):
            raise StoreError(
                f"cannot read {source}: its write-ahead log holds changes, and its "
                f"folder is read-only; copy both files to a writable folder"
            )
        self._conn.execute("ATTACH DATABASE ? AS src", (uri(source, "ro", immutable=True),))

    def use_rollback_journal(self) -> None:
        """Leave WAL mode: one self-contained file, readable from read-only media (export)."""
        self._refuse_if_readonly()
        self._conn.execute("PRAGMA journal_mode = DELETE")


def backup_database(source: Path, target: Path, shown_as: Path) -> None:
    """A consistent copy of the whole database at ``source`` into the new file ``target``
    (SQLite's online backup: a recording may go on meanwhile), self-contained: no WAL.
    ``shown_as`` is the name an error gives for the copy."""
    src = sqlite3.connect(uri(source, "ro"), uri=True)
    dst = sqlite3.connect(target)
    try:
        # In steps, with a Python callback between them: a signal's handler runs
        # there, not only after the whole copy.
        src.backup(dst, pages=256, progress=_between_steps)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    except (sqlite3.Error, OSError) as exc:  # a full disk, an I/O error
        raise VlmtopError(f"cannot back up {source} to {shown_as}: {exc} ({free_space(shown_as)})") from None
    finally:
        dst.close()
        src.close()


def _between_steps(status: int, remaining: int, total: int) -> None:
    pass
