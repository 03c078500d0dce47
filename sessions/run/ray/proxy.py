"""The store a Worker writes through inside a Ray actor: an outbox the driver drains.

The driver is the only SQLite writer of an experiment, so an actor's Worker gets this
store-like object instead of a SessionStore. Each write becomes a message in an ordered
outbox; the driver takes the outbox in small batches (:meth:`StoreProxy.take`, called from
the actor's second thread), commits each message, and acknowledges it on its next call.

``write_sample`` and ``finish_session`` wait for that acknowledgement before they return.
So at any moment at most one finished sample is not yet committed, and an actor killed
with SIGKILL loses at most that one (its sample in flight). The wait happens between
samples, never inside a timed one, so it costs throughput, not accuracy.

Controls travel the other way: the driver hands each `take` the session's pending control
rows; the Worker sees them through :meth:`pending_controls` and answers through
:meth:`answer_control`, a message the driver commits like any other.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from vlmtop.sessions.records import SessionStatus

MAX_BATCH = 8  # messages per take: small, so each is committed soon after it was made
ACK_TIMEOUT_S = 300.0  # a driver silent this long is gone: stop waiting for it

# A message: (index, kind, payload). Kinds: create, update, sample, event, heartbeat,
# answer, finish (see driver.commit).
Message = tuple[int, str, Any]


class DriverGone(RuntimeError):
    """No acknowledgement came for ACK_TIMEOUT_S: nobody is committing this actor's records."""


class StoreProxy:
    """What a Worker needs of a SessionStore, backed by an outbox (thread-safe)."""

    def __init__(self, where: dict, versions: dict, ack_timeout_s: float = ACK_TIMEOUT_S):
        self.where = where  # pid, hostname, node_id of this process
        self.versions = versions  # the library versions on this node
        self.ack_timeout_s = ack_timeout_s
        self._cond = threading.Condition()
        self._outbox: list[Message] = []
        self._next_index = 0
        self._acked = -1  # the highest index the driver has committed
        self._controls: dict[int, Any] = {}  # pending Control rows, by id, as the driver last saw them
        self._answered: set[int] = set()
        self._status: str | None = None

    # --- what the Worker calls ---------------------------------------------------------

    def create_session(self, model, device, dtype, settings, versions=None, session_id=None, experiment=None) -> str:
        if session_id is None:
            raise ValueError("a Ray actor records a session whose id the driver chose")
        self._put("create", dict(model=model, device=device, dtype=dtype, settings=settings,
                                 versions=versions or self.versions, session_id=session_id,
                                 experiment=experiment, where=dict(self.where)))
        return session_id

    def update_session(self, session_id: str, **changes) -> None:
        self._put("update", changes)  # (the worker names the card the model loaded on)

    def heartbeat(self, session_id: str) -> None:
        self._put("heartbeat", None)

    def write_sample(self, record) -> None:
        self._put("sample", record, wait=True)

    def write_event(self, event) -> int:
        self._put("event", event)
        return 0

    def pending_controls(self, session_id: str) -> list:
        with self._cond:
            return [c for i, c in sorted(self._controls.items()) if i not in self._answered]

    def answer_control(self, control_id: int, status: str, applied_seq: int | None = None) -> None:
        with self._cond:
            self._answered.add(control_id)
        self._put("answer", (control_id, status, applied_seq))

    def finish_session(self, session_id: str, status: str, error: str | None = None) -> None:
        self._status = status
        self._put("finish", (status, error), wait=True)

    def session(self, session_id: str) -> SimpleNamespace:
        return SimpleNamespace(id=session_id, status=self._status or SessionStatus.RUNNING)

    def close(self) -> None:
        """Return once the driver has committed everything (or is gone)."""
        with self._cond:
            last = self._next_index - 1
        try:
            self._wait_for(last)
        except DriverGone:
            pass  # nothing more can be done from here; the driver's side says what happened

    # --- what the driver calls (through the actor) -------------------------------------

    def take(self, acked: int, controls: list, timeout_s: float) -> list[Message]:
        """Acknowledge messages up to ``acked``, refresh the pending controls, and return the
        next few messages, waiting up to ``timeout_s`` for one."""
        with self._cond:
            self._acked = max(self._acked, acked)
            self._controls = {c.id: c for c in controls}
            self._answered &= set(self._controls)  # answered ones the driver has committed drop out
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._outbox, timeout=timeout_s)
            batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
            return batch

    # --- inside ------------------------------------------------------------------------

    def _put(self, kind: str, payload: Any, wait: bool = False) -> None:
        with self._cond:
            index = self._next_index
            self._next_index += 1
            self._outbox.append((index, kind, payload))
            self._cond.notify_all()
        if wait:
            self._wait_for(index)

    def _wait_for(self, index: int) -> None:
        deadline = time.monotonic() + self.ack_timeout_s
        with self._cond:
            while self._acked < index:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DriverGone(f"the driver acknowledged nothing for {self.ack_timeout_s:.0f} s")
                self._cond.wait(timeout=left)
