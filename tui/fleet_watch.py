"""Reading an experiment's fleet off the UI thread: the poller pattern of tui/poller.py.

A Textual thread worker runs :meth:`FleetWatch.run`: it opens its OWN read-only store on
the database (the dashboard's store belongs to its poller thread and its lock), reads the
fleet every ``interval`` and posts a :class:`FleetRead` to the widget that asked. The
header asks for the summary only (a few words); the fleet screen for every row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.fleet import FleetRow, FleetSummary, FleetView, experiment_summary
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.connection import SQLiteError

FLEET_INTERVAL_S = 1.0  # the fleet screen's refresh
SUMMARY_INTERVAL_S = 2.0  # the header's: new actors appear, none of it is a number to watch


@dataclass
class FleetRead(Message, bubble=False):
    summary: FleetSummary
    rows: list[FleetRow] | None  # None: the summary alone was asked for
    column: str | None
    grouping: str | None


@dataclass
class FleetFailed(Message, bubble=False):
    error: str


class FleetWatch:
    def __init__(self, db: Path, experiment_id: str, interval: float, detail: bool = True):
        self.db = db
        self.experiment_id = experiment_id
        self.interval = interval
        self.detail = detail
        self.column = "e2e_ms"
        self.grouping = "session"
        self._wake = threading.Event()

    def want(self, column: str, grouping: str) -> None:
        """Read these next, now rather than at the end of the interval (a key was pressed)."""
        self.column, self.grouping = column, grouping
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def read(self, view: FleetView) -> FleetRead:
        if not self.detail:
            return FleetRead(experiment_summary(view.store, self.experiment_id), None, None, None)
        column, grouping = self.column, self.grouping  # one consistent pair for this read
        summary, rows = view.rows(column, grouping)
        return FleetRead(summary, rows, column, grouping)

    def run(self, cancelled: Callable[[], bool], post: Callable[[Message], object]) -> None:
        """The thread worker's body: read until ``cancelled()``."""
        store = None
        try:
            while not cancelled():
                try:
                    if store is None:
                        store = SessionStore.open(self.db, create=False, readonly=True)
                        view = FleetView(store, self.experiment_id)
                    post(self.read(view))
                except (VlmtopError, SQLiteError) as exc:
                    post(FleetFailed(str(exc)))
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            if store is not None:
                store.close()
