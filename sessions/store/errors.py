"""What the session database refuses, as errors a command prints in one line (exit 2).

They live apart from the store so every part of it (opening, schema, liveness, controls)
raises the same classes without importing the store itself.
"""

from __future__ import annotations

from vlmtop.core.errors import VlmtopError


class StoreError(VlmtopError):
    """The session database cannot do what was asked; the message says why and what to do."""


class StoreNotFoundError(StoreError):
    """No database file where one was expected (nothing is created when reading)."""


class EmptyStoreError(StoreNotFoundError):
    """The file exists but holds nothing yet: a writer has just created it and not yet
    written its first page, or nothing was ever recorded in it."""


class NotASessionDatabaseError(StoreError):
    """The file is not a vlmtop session database: not SQLite, or not readable as SQLite."""


class ForeignDatabaseError(NotASessionDatabaseError):
    """The file is an SQLite database, but another application's."""


class NewerSchemaError(StoreError):
    """The file was written by a newer vlmtop with a schema this one does not know."""


class ReadOnlyStoreError(StoreError):
    """A write was asked of a database that can only be read here (read-only file or folder)."""


class UnknownSessionError(StoreError):
    """No session matches the given id, prefix or ``last``."""


class AmbiguousSessionError(UnknownSessionError):
    """A prefix matches several sessions."""


class SessionRunningError(StoreError):
    """The session still has a live writer: stop it before removing it."""


class SessionNotRunningError(StoreError):
    """A request that needs a live worker (stop), for a session that has none."""


class StoreWriteError(StoreError):
    """A write could not be committed (an I/O error, a full disk). Everything committed
    before it stays in the file; the message names the file and the free space left."""


class StoreFullError(StoreWriteError):
    """The disk (or the file's size limit) is full: SQLITE_FULL."""


class StoreLockedError(StoreError):
    """Another program holds the database's lock past the wait allowed (SQLITE_BUSY)."""
