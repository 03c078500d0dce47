"""Naming a session: a full id, a unique id prefix, or ``last``.

``last`` is what a user means after a failed start (a ``--stage`` typo, a model that does
not load): the newest session with measured samples, not the empty one just recorded as
failed. A session still recording counts too, samples or not: it is the one to attach to.
When ``last`` skips newer sessions, or lands on an empty one, :class:`Resolved` carries a
one-line note saying which it picked and why, for the command to print.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.store.connection import SqliteFile
from vlmtop.sessions.store.errors import (
    AmbiguousSessionError,
    SessionNotRunningError,
    UnknownSessionError,
)
from vlmtop.sessions.store.rows import SessionInfo


@dataclass(frozen=True)
class Resolved:
    """The session a reference named, and a note when ``last`` needs explaining."""

    id: str
    note: str | None = None


def _describe(info: SessionInfo) -> str:
    if info.status == SessionStatus.FAILED and info.error:
        return f"failed: {info.error}"
    return info.status


class SessionLookup(SqliteFile):
    """Finding sessions by what a user typed; mixed into the store."""

    def sessions(self) -> list[SessionInfo]:  # provided by the store
        raise NotImplementedError

    def resolve(self, session_ref: str) -> str:
        """The id of the session named by a full id, a unique id prefix, or ``last``."""
        return self.lookup(session_ref).id

    def resolve_experiment(self, ref: str) -> str:
        """The experiment id named by a full id or a unique prefix (as :meth:`resolve` does for sessions)."""
        pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        ids = [value for (value,) in self._conn.execute(
            "SELECT DISTINCT experiment_id FROM sessions WHERE experiment_id LIKE ? ESCAPE '\\' "
            "ORDER BY experiment_id", (pattern + "%",)) if type(value) is str]
        if ref in ids:
            return ref
        if not ids or not ref:
            raise UnknownSessionError(f"no experiment {ref!r} in {self.path}; `vlmtop sessions` lists the "
                                      f"experiment of each session of a --repeat or --ray run")
        if len(ids) > 1:
            raise AmbiguousSessionError(f"{ref!r} matches {len(ids)} experiments ({', '.join(ids[:5])}): "
                                        f"give more of the id")
        return ids[0]

    def lookup(self, session_ref: str) -> Resolved:
        """Like :meth:`resolve`, with the note a command prints when ``last`` needs one."""
        if session_ref == "last":
            return self._last()
        listing = f"list them with `vlmtop sessions --db {self.path}`"
        pattern = session_ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        ids = [  # an id that is not text is unreadable: it names nothing
            r[0]
            for r in self._conn.execute(
                "SELECT id FROM sessions WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY started_at",
                (session_ref, pattern + "%"),
            )
            if type(r[0]) is str
        ]
        if session_ref in ids:
            return Resolved(session_ref)
        if not ids or not session_ref:
            raise UnknownSessionError(f"no session {session_ref!r} in {self.path}; {listing}")
        if len(ids) > 1:
            raise AmbiguousSessionError(
                f"{session_ref!r} matches {len(ids)} sessions ({', '.join(ids[:5])}"
                f"{', ...' if len(ids) > 5 else ''}): give more of the id"
            )
        return Resolved(ids[0])

    def _last(self) -> Resolved:
        newest_first = self.sessions()[::-1]
        if not newest_first:
            raise UnknownSessionError(f"no sessions recorded in {self.path} yet")
        for skipped, info in enumerate(newest_first):
            if info.measured_count or info.status == SessionStatus.RUNNING:
                break
        else:
            info = newest_first[0]
            return Resolved(
                info.id,
                f"last: session {info.id} has no measured samples ({_describe(info)}); "
                f"no session in {self.path.name} has any",
            )
        if not skipped:
            if not info.measured_count:
                return Resolved(info.id, f"last: session {info.id} is running, no measured samples yet")
            return Resolved(info.id)
        newest = newest_first[0]
        newer = f"{skipped} newer session{'s' * (skipped > 1)}"
        return Resolved(
            info.id,
            f"last: session {info.id} ({info.measured_count} measured samples), skipping "
            f"{newer} without any (newest: {newest.id}, {_describe(newest)})",
        )

    def last_running(self) -> str:
        """The newest session whose worker is alive: what `vlmtop stop` stops by default."""
        running = [info for info in self.sessions() if info.status == SessionStatus.RUNNING]
        if not running:
            raise SessionNotRunningError(f"no session is running in {self.path}")
        return running[-1].id
