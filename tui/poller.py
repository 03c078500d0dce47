"""Reading the session database off the UI thread, and waking the UI only for a change.

A Textual thread worker runs :meth:`Poller.run`: every ``interval`` it polls the source,
and when the update would change the screen it merges it into an inbox and posts one
:class:`SourceChanged`. The message carries no rows: it only says "take the inbox", so
Textual may coalesce a burst of them (``can_replace``, as toolong's watchers do) without
losing a row, and a UI busy drawing never falls behind a fast worker by a queue of frames.

The source and its store are shared with the UI thread (keys move a replay, write
controls, read their answers), so every use of either goes through :attr:`Poller.lock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.playback import SourceUpdate, shown_session_state
from vlmtop.sessions.store.connection import SQLiteError

DEFAULT_INTERVAL_S = 0.2  # a new sample is on screen within this; idle polls cost ~0.1 ms
MIN_INTERVAL_S = 0.02


@dataclass
class SourceChanged(Message, bubble=False):
    """The poller's inbox holds an update that changes the screen."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SourceChanged)


@dataclass
class SourceFailed(Message, bubble=False):
    """Reading the source failed (a locked or vanished file): say so, keep polling."""

    error: str


class Poller:
    def __init__(self, source, interval: float = DEFAULT_INTERVAL_S):
        self.source = source
        self.interval = max(MIN_INTERVAL_S, interval)
        self.lock = threading.RLock()  # the source and its store: one thread at a time
        self._inbox: SourceUpdate | None = None
        self._inbox_lock = threading.Lock()
        self._wake = threading.Event()
        self._shown_session: tuple | None = None
        self._closed = False  # set by close(): no poll starts after it

    def poll(self, force: bool = False) -> bool:
        """Poll once; put the update in the inbox when it changes the screen (or ``force``).
        Returns whether the inbox got something. Raises what the source raises."""
        with self.lock:
            if self._closed:
                return False
            update = self.source.poll()
        session_state = shown_session_state(update.session)
        changed = force or update.changes_screen or session_state != self._shown_session
        self._shown_session = session_state
        if changed:
            with self._inbox_lock:
                self._inbox = update if self._inbox is None else self._inbox.then(update)
        return changed

    def take(self) -> SourceUpdate | None:
        """Everything polled since the last take, merged; None when nothing changed."""
        with self._inbox_lock:
            update, self._inbox = self._inbox, None
        return update

    def close(self) -> None:
        """Poll no more: once this returns no poll is under way and none will start, so the
        store may be closed. Textual cancels a thread worker on exit but does not wait for
        it, and closing an sqlite3 connection while another thread is inside a statement on
        it crashes the process (CPython's cursor reads the connection's handle, now NULL)."""
        self._closed = True
        self._wake.set()
        with self.lock:  # a poll under way holds it: wait for it to end
            pass

    def wake(self) -> None:
        """Poll now instead of at the end of the interval (a key moved the replay, or the
        app is leaving and the thread must notice)."""
        self._wake.set()

    def run(self, cancelled: Callable[[], bool], post: Callable[[Message], object],
            force: Callable[[], bool] = lambda: False) -> None:
        """The thread worker's body: poll until ``cancelled()``. ``force()`` asks for a
        message even without a change (while a control waits for the worker's answer)."""
        while not cancelled() and not self._closed:
            try:
                if self.poll(force()):
                    post(SourceChanged())
            except (VlmtopError, SQLiteError) as exc:
                post(SourceFailed(str(exc)))
            self._wake.wait(self.interval)
            self._wake.clear()
