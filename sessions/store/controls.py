"""The control channel: requests a dashboard (or `vlmtop stop`) writes, the worker answers.

Any process that can open the file can steer a recording: it inserts a `pending` row; the
worker reads pending rows between samples (never during one), applies or rejects each, and
marks it answered with the first sample recorded under it. So a headless run on a GPU box
is steered from another terminal, and nothing needs a socket or a signal.
"""

from __future__ import annotations

import time

from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.store.connection import SqliteFile
from vlmtop.sessions.store.errors import SessionNotRunningError, StoreError
from vlmtop.sessions.store.rows import (
    CONTROL_STATUSES,
    MAX_CONTROL_CHARS,
    Control,
    SessionInfo,
    clean_row,
    control,
    select_sql,
)
from vlmtop.sessions.store.schema import table_columns
from vlmtop.sessions.store.validate import Unreadable

MAX_CONTROL_ID = 2**53  # ids below it survive JSON and every reader; add_control stays below
STEERING_KINDS = ("pause", "resume", "stop")  # every other control kind is a knob's name


class ControlChannel(SqliteFile):
    """The `controls` table, mixed into :class:`~vlmtop.sessions.store.session_store.SessionStore`."""

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
        if status in (SessionStatus.COMPLETED, SessionStatus.FAILED):
            raise StoreError(f"session {session_id} is {status}: there is no worker to steer")
        with self._transaction():
            # The id is chosen here, after the largest id a reader accepts: SQLite's own
            # choice is the largest id + 1, so one hand-written row with an id of 2^53 or
            # more would make every later request unreadable (or, at 2^63 - 1, unwritable).
            cur = self._conn.execute(
                "INSERT INTO controls (id, session_id, kind, value, created_at, status) "
                "VALUES ((SELECT coalesce(max(id), 0) + 1 FROM controls "
                f"WHERE typeof(id) = 'integer' AND id BETWEEN 1 AND {MAX_CONTROL_ID - 1}), ?, ?, ?, ?, 'pending')",
                (session_id, kind, value, time.time()),
            )
        return cur.lastrowid

    def request_stop(self, session_id: str) -> int:
        """Ask the worker to stop after the sample in flight; returns the control's id.

        Only a `running` session (its writer alive, see liveness.py) has a worker to ask.
        """
        info = self.session(session_id)
        if info.status != SessionStatus.RUNNING:
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
            if info.status != SessionStatus.RUNNING or time.monotonic() >= deadline:
                return info
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def pending_controls(self, session_id: str) -> list[Control]:
        return self._controls(session_id, "AND status = 'pending'")

    def answer_control(self, control_id: int, status: str, applied_seq: int | None = None) -> None:
        """Mark a pending request `applied` (from sample ``applied_seq``) or `rejected`.
        ``control_id`` is the row's rowid (:attr:`Control.id`), which every row has."""
        if status not in CONTROL_STATUSES[1:]:
            raise ValueError(f"a control is answered {CONTROL_STATUSES[1:]}, not {status!r}")
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE controls SET status = ?, applied_seq = ?, answered_at = ? "
                "WHERE rowid = ? AND status = 'pending'",
                (status, applied_seq, time.time(), control_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"control {control_id} is unknown or already answered")

    def controls(self, session_id: str) -> list[Control]:
        """Every request for ``session_id``, answered or not, in the order written."""
        return self._controls(session_id, "")

    def _controls(self, session_id: str, condition: str) -> list[Control]:
        """The rows in the order written, each keyed by its rowid: an integer every row
        has, whatever its id column holds. A row whose id is no count vlmtop writes (2^53
        and up, negative, text, a blob) is still listed, with its ``problem``, so that
        the worker answers it `rejected` and goes on to the next instead of stalling on it."""
        if not self._has_table("controls"):  # an older file opened read-only
            return []
        select = select_sql(table_columns(self._conn, "controls"))
        rows = self._dicts(
            f"SELECT rowid AS _rowid, {select} FROM controls WHERE session_id = ? {condition} ORDER BY _rowid",
            (session_id,),
        )
        out = []
        for row in rows:
            rowid = row.pop("_rowid")
            raw_id = row.get("id")
            readable = isinstance(raw_id, int) and 1 <= raw_id < MAX_CONTROL_ID
            clean = clean_row("controls", {**row, "id": rowid if readable else 1}, self.unreadable)
            if clean is None:
                continue
            problem = ("" if readable else f"control id {raw_id!r} is not a whole number from 1 to 2^53 - 1")
            out.append(control({**clean, "id": rowid, "problem": problem}))
        return out
