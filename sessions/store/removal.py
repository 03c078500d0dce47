"""Removing sessions: `vlmtop rm` and `vlmtop prune`.

A session goes with everything it owns (samples, events, controls), all the sessions asked
for in one IMMEDIATE transaction: either every one is gone or none is. A session whose
worker is still alive is refused, judged again under the write lock, so a worker is never
left writing into a session that no longer exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.store.connection import SqliteFile
from vlmtop.sessions.store.errors import SessionRunningError, UnknownSessionError
from vlmtop.sessions.store.liveness import save_settled, settle
from vlmtop.sessions.store.rows import SessionInfo

# Child tables first: nothing ever points at a session that is gone.
_OWNED_BY_SESSION = ("controls", "events", "samples")


@dataclass(frozen=True)
class Removed:
    sessions: int
    samples: int


class SessionRemoval(SqliteFile):
    """Deleting sessions; mixed into the store."""

    _hostname: str

    def sessions(self) -> list[SessionInfo]:  # provided by the store
        raise NotImplementedError

    def _session_rows(self, where: str, params: tuple = ()) -> list[dict]:  # the store's
        raise NotImplementedError

    def prune_candidates(self, older_than: float | None = None) -> list[SessionInfo]:
        """What `prune` removes: sessions that failed or measured nothing, or with
        ``older_than`` (unix time) every session started before it. Never a running one."""
        finished = [info for info in self.sessions() if info.status != SessionStatus.RUNNING]
        if older_than is not None:
            return [info for info in finished if info.started_at < older_than]
        return [info for info in finished if info.status == SessionStatus.FAILED or not info.measured_count]

    def remove_sessions(self, session_ids: Iterable[str]) -> Removed:
        """Delete these sessions and all their rows, in one transaction."""
        ids = list(dict.fromkeys(session_ids))
        if not ids:
            return Removed(0, 0)
        marks = ", ".join("?" * len(ids))
        with self._transaction():
            rows = self._session_rows(f"id IN ({marks})", tuple(ids))
            unknown = set(ids) - {row["id"] for row in rows}
            if unknown:
                raise UnknownSessionError(f"no session {sorted(unknown)[0]!r} in {self.path}")
            settled, gone = settle(rows, self._hostname)
            for row in settled:
                if row["status"] == SessionStatus.RUNNING:
                    raise SessionRunningError(
                        f"session {row['id']} is still running (pid {row['pid']} on "
                        f"{row['hostname']}): stop it first with `vlmtop stop {row['id']}`"
                    )
            save_settled(self._conn, gone)
            samples = self._conn.execute(
                f"SELECT count(*) FROM samples WHERE session_id IN ({marks})", ids
            ).fetchone()[0]
            for table in _OWNED_BY_SESSION:
                self._conn.execute(f"DELETE FROM {table} WHERE session_id IN ({marks})", ids)
            self._conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", ids)
        return Removed(len(ids), samples)
