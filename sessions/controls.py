"""The control channel: requests a dashboard (or `vlmtop stop`) writes, the worker answers.

Any process that can open the file can steer a recording: it inserts a `pending` row; the
worker reads pending rows between samples (never during one), applies or rejects each, and
marks it answered with the first sample recorded under it. So a headless run on a GPU box
is steered from another terminal, and nothing needs a socket or a signal.
"""

from __future__ import annotations

import time

from vlmtop.sessions.codec import Unreadable, guarded_sql
from vlmtop.sessions.rows import LONG_COLUMNS, MAX_CONTROL_CHARS, Control, SessionInfo, clean_row, control
from vlmtop.sessions.schema import table_columns
from vlmtop.sessions.sqlite_file import SqliteFile
from vlmtop.sessions.store_errors import SessionNotRunningError, StoreError

CONTROL_STATUSES = ("pending", "applied", "rejected")
STEERING_KINDS = ("pause", "resume", "stop")  # every other control kind is a knob's name


class ControlChannel(SqliteFile):
    """The `controls` table, mixed into :class:`~vlmtop.sessions.store.SessionStore`."""

    unreadable: Unreadable  # set by the store

    def session(self, session_id: str) -> SessionInfo:  # provided by the store
        raise NotImplementedError

    def add_control(self, session_id: str, kind: str, value: str | None = None) -> int:
        """Queue a request for the worker recording ``session_id``; returns its id.

        The kind is pause, resume, stop, or a knob's name (sessions/knobs.py: the policies
        are knobs): anything else no worker could apply, so it is refused here. A value is a
        policy or knob value: one longer than MAX_CONTROL_CHARS is refused (the worker would
        store it twice, in the control and in its event); the worker parses it and rejects
        a bad one with the reason."""
        from vlmtop.sessions.knobs import KNOBS

        if kind not in STEERING_KINDS and kind not in KNOBS:
            raise StoreError(f"unknown control {kind!r}: one of {', '.join(STEERING_KINDS)} or a knob "
                             "(`vlmtop knobs` lists them)")
        if value is not None and len(value) > MAX_CONTROL_CHARS:
            raise StoreError(
                f"a {kind} value of {len(value)} characters is too long to send to the "
                f"worker (at most {MAX_CONTROL_CHARS})"
            )
        status = self.session(session_id).status
        if status in ("completed", "failed"):
            raise StoreError(f"session {session_id} is {status}: there is no worker to steer")
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO controls (session_id, kind, value, created_at, status) "
                "VALUES (?, ?, ?, ?, 'pending')",
                (session_id, kind, value, time.time()),
            )
        return cur.lastrowid

    def request_stop(self, session_id: str) -> int:
        """Ask the worker to stop after the sample in flight; returns the control's id.

        Only a `running` session (its writer alive, see liveness.py) has a worker to ask.
        """
        info = self.session(session_id)
        if info.status != "running":
            raise SessionNotRunningError(
                f"session {session_id} is {info.status}, not running: there is nothing to stop"
            )
        return self.add_control(session_id, "stop")

    def wait_until_ended(
        self, session_id: str, timeout_s: float, poll_s: float = 0.2
    ) -> SessionInfo:
        """The session once it is no longer `running`, or as it is when ``timeout_s`` ends."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.session(session_id)
            if info.status != "running" or time.monotonic() >= deadline:
                return info
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def pending_controls(self, session_id: str) -> list[Control]:
        return self._controls(session_id, "AND status = 'pending'")

    def answer_control(self, control_id: int, status: str, applied_seq: int | None = None) -> None:
        """Mark a pending request `applied` (from sample ``applied_seq``) or `rejected`."""
        if status not in CONTROL_STATUSES[1:]:
            raise ValueError(f"a control is answered {CONTROL_STATUSES[1:]}, not {status!r}")
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE controls SET status = ?, applied_seq = ?, answered_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (status, applied_seq, time.time(), control_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"control {control_id} is unknown or already answered")

    def controls(self, session_id: str) -> list[Control]:
        """Every request for ``session_id``, answered or not, in the order written."""
        return self._controls(session_id, "")

    def _controls(self, session_id: str, condition: str) -> list[Control]:
        if not self._has_table("controls"):  # an older file opened read-only
            return []
        select = ", ".join(
            f"{guarded_sql(name, name in LONG_COLUMNS)} AS {name}"
            for name in table_columns(self._conn, "controls")
        )
        rows = self._dicts(
            f"SELECT {select} FROM controls WHERE session_id = ? {condition} ORDER BY id",
            (session_id,),
        )
        return [control(c) for r in rows if (c := clean_row("controls", r, self.unreadable))]
