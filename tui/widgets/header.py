"""The top line: what is being measured, where, and the session's state (right-aligned,
always visible: at 80 columns the left part is shortened instead).

A session of an experiment spread over several hosts or devices (`vlmtop run --ray`) also
says so on the right, with the key of the fleet screen: "fleet: 4 sessions on 2 hosts · F".
The header reads that summary itself, off the UI thread (widgets/fleet_watch.py).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.widgets import Static
from textual.worker import get_current_worker

from vlmtop.core.text import printable
from vlmtop.sessions.records import SessionStatus
from vlmtop.tui.fleet_watch import SUMMARY_INTERVAL_S, FleetRead, FleetWatch


class SessionHeader(Static):
    DEFAULT_CSS = """
    SessionHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    fleet = None  # the experiment's FleetSummary, once read
    _watch: FleetWatch | None = None

    def show(self, state, replay=None) -> None:
        session = state.session
        self._state, self._replay = state, replay  # drawn again when the fleet summary comes
        if session is not None:
            self._watch_fleet(session.experiment_id)
        if session is None:
            self.update(Text("vlmtop · waiting for the session…"))
            return
        left = Text()
        left.append(printable(session.model), style="bold")
        if session.status == SessionStatus.RUNNING and not session.sample_count:
            # Before its first sample the worker is loading the model, and device and dtype
            # still read as asked ("auto auto"), not as resolved: say what is happening.
            left.append(printable(f" · {session.id} · loading {session.model}…", limit=0), style="italic")
        else:
            left.append(printable(f" · {session.device} {session.dtype} · {session.id} · {session.measured_count} measured", limit=0))
        if session.warmup_count:
            left.append(f" +{session.warmup_count} warm-up")
        if session.error_count:
            errors = "error" if session.error_count == 1 else "errors"
            left.append(f" · {session.error_count} {errors}", style="bold red")
        rate = state.rate()
        if rate and session.status == SessionStatus.RUNNING and replay is None:
            left.append(f" · {rate:.1f}/s")
        right = self._status(state, session, replay)
        fleet = self.fleet
        if fleet is not None and fleet.experiment_id == session.experiment_id and fleet.spread:
            right = Text.assemble((f"fleet: {fleet.short()} · F", "bold"), "  ", right)
        room = max(10, self.content_size.width - len(right.plain) - 1)
        left.truncate(room, overflow="ellipsis", pad=True)
        self.update(Text.assemble(left, " ", right))

    def _watch_fleet(self, experiment_id: str | None) -> None:
        """Read the experiment's summary every few seconds (new actors join as they start)."""
        if experiment_id is None or (self._watch is not None and self._watch.experiment_id == experiment_id):
            return
        self._watch = FleetWatch(self.app.store.path, experiment_id, SUMMARY_INTERVAL_S, detail=False)
        self._read_fleet(self._watch)

    @work(thread=True, exclusive=True, group="fleet-summary", name="read the fleet summary")
    def _read_fleet(self, watch: FleetWatch) -> None:
        worker = get_current_worker()
        watch.run(lambda: worker.is_cancelled or not self.is_attached, self.post_message)

    def on_fleet_read(self, message: FleetRead) -> None:
        if message.summary != self.fleet:
            self.fleet = message.summary
            self.show(self._state, self._replay)

    def on_unmount(self) -> None:
        if self._watch is not None:
            self._watch.wake()

    @staticmethod
    def _status(state, session, replay) -> Text:
        if replay is not None:
            mode = "▶" if replay.playing else "❚❚"
            return Text(f"{mode} replay seq {state.position}/{state.total - 1} ×{replay.speed:g}", style="bold")
        if session.status == SessionStatus.RUNNING:
            return Text("❚❚ paused" if state.paused else "● live", style="bold")
        return Text(session.status, style="bold red" if session.status == SessionStatus.FAILED else "bold")
