"""The dashboard: live, attached or replayed sessions, all through one source interface.

A thread worker (:mod:`.poller`) polls the source every ``interval`` off the UI thread and
posts a message only when what it read changes the screen; the state absorbs ALL rows new
since the last update and the panels redraw from it. So the dashboard draws when a sample
arrives, a key changes the view, or a replay playing at speed moves on, and an idle or
paused session costs next to nothing. Steering writes control rows to the database; the
worker answers them between samples and the policy bar shows a change as pending until then.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import get_current_worker

from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import printable
from vlmtop.sessions.export import export_session
from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.connection import SQLiteError
from vlmtop.tui.poller import DEFAULT_INTERVAL_S, Poller, SourceChanged, SourceFailed
from vlmtop.tui.replay_keys import REPLAY_ACTIONS, REPLAY_BINDINGS, ReplayKeys
from vlmtop.tui.screens.arms import ArmsScreen
from vlmtop.tui.screens.costmodel import CostModelScreen
from vlmtop.tui.screens.fleet import FleetScreen
from vlmtop.tui.screens.help import HelpScreen
from vlmtop.tui.state import DashboardState
from vlmtop.tui.steering import STEERING_ACTIONS, STEERING_BINDINGS, STOP_KEY, SteeringKeys
from vlmtop.tui.widgets.arms_panel import ArmsPanel
from vlmtop.tui.widgets.comparison import ComparisonPanel
from vlmtop.tui.widgets.distribution import Distribution
from vlmtop.tui.widgets.header import SessionHeader
from vlmtop.tui.widgets.policy_bar import PolicyBar
from vlmtop.tui.widgets.share_bar import ShareBar
from vlmtop.tui.widgets.stage_table import StageTable

STOP_WAIT_S = 120.0  # a sample in flight on a big model can take this long to finish
COMPACT_BELOW_ROWS = 32  # shorter terminals get the borderless layout
WORKER_EXIT_GRACE_S = 10.0  # how long an ended session's notice waits for our worker to exit
QUIT_KEY = "q"  # ctrl+c's tooltip names it
SELECT_STAGE = "select a stage: the distribution and the arms' ratio follow"


class VlmtopApp(SteeringKeys, ReplayKeys, App):
    # absolute: Textual resolves a relative CSS_PATH against the module of a SUBCLASS
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "vlmtop"
    # The help screen (`?`) lists these, the ones check_action lets through, by their tooltip:
    # the footer shows the description, and hovering it the tooltip.
    BINDINGS = [
        # Attached to a run another terminal started, q leaves it running: the footer says
        # "detach" there, and shows S, the key that does stop it (check_action picks).
        Binding(QUIT_KEY, "quit_session", "quit",
                tooltip="quit (a run: its worker finishes the sample in flight and the session completes)"),
        Binding(QUIT_KEY, "detach", "detach", tooltip=f"detach: leave the run going on ({STOP_KEY} stops it)"),
        # Ctrl+C quits, as in htop, btop and nvitop (Textual's own binding only says "press
        # ctrl+q"); priority: it works from the help and go-to screens too.
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True, tooltip=f"quit, as {QUIT_KEY} does"),
        Binding("question_mark", "help", "help", tooltip="help: the keys that work here"),
        # One key, two labels: check_action shows the one that applies ("space resume" paused)
        Binding("space", "pause", "pause", tooltip="pause: the worker between samples, or the replay"),
        Binding("space", "resume", "resume", tooltip="resume: the worker, or the replay"),
        *STEERING_BINDINGS,
        # a run with arms: which arm the stage table shows, and every arm in full
        Binding("a", "cycle_arm", "arm", tooltip="show the next arm: stage table, distribution and share bar "
                                                 "show one arm (the baseline first), never arms pooled"),
        Binding("A", "arms", "arms", show=False, tooltip="all arms vs the baseline: ratio, 95% CI, p, verdict per stage"),
        Binding("F", "fleet", "fleet", show=False,
                tooltip="the fleet: every session of the experiment, per session, host or device (run --ray)"),
        Binding("M", "cost_model", "cost model", show=False,
                tooltip="cost model of a sweep: each arm's median of the selected stage vs its token count, the fit"),
        Binding("up", "select(-1)", "stage", show=False, tooltip=SELECT_STAGE),
        Binding("down", "select(1)", "stage", show=False, tooltip=SELECT_STAGE),
        Binding("r", "reset", "reset stats", show=False, tooltip="reset stats: the statistics window starts now"),
        Binding("e", "export", "export", show=False,
                tooltip="export the session (standalone SQLite file in the current folder)"),
        Binding("s", "screenshot", "screenshot", show=False, tooltip="save an SVG screenshot in the current folder"),
        *REPLAY_BINDINGS,
    ]

    def __init__(
        self,
        store: SessionStore,
        source,
        *,
        worker: subprocess.Popen | None = None,
        worker_said: Callable[[], str | None] | None = None,
        steerable: bool = True,
        interval: float | None = None,
        fleet: bool = False,
    ):
        super().__init__()
        self.open_fleet = fleet  # `vlmtop attach exp-...`: start on the fleet screen
        self.store = store
        self.source = source
        self.session_id = source.session_id
        self.worker = worker  # our own worker process (vlmtop run): q stops it
        # its fault line once it has exited (WorkerOutput.reason): an `interrupted` row lacks it
        self.worker_said = worker_said
        # a source that can seek is played back; one that cannot is followed live and steered
        self.replay = source if source.can_seek else None
        self.steerable = steerable and source.is_live
        self.state = DashboardState(window=source.window)
        self.pending: dict[str, tuple[int, str]] = {}  # kind -> (control id, value)
        self.poller = Poller(source, DEFAULT_INTERVAL_S if interval is None else interval)
        self._stopping_since: float | None = None
        self._notified_end = False
        self._end_seen_at: float | None = None  # when the session was first seen ended
        self._leaving = False
        self._last_source_error: str | None = None
        self._shown_footer: tuple | None = None  # what the footer's space label last reflected
        self._comparison_timer: Timer | None = None

    def notify(self, message: str, *, title: str = "", markup: bool = True, **options) -> None:
        """Every notification (screens' too: theirs come here) quotes sample ids, errors and
        session ids from the database: shown as text, each line escaped, never markup."""
        lines = (printable(line, limit=0) for line in str(message).split("\n"))
        super().notify("\n".join(lines), title=printable(title), markup=False, **options)

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        yield StageTable(id="stages")
        yield ArmsPanel(id="arms")
        with Horizontal(id="middle"):
            yield Distribution(id="distribution")
            yield ShareBar(id="share")
        yield ComparisonPanel(id="comparison")
        yield PolicyBar(id="policies")
        yield Footer()

    def on_mount(self) -> None:
        # Keep the panels: app.query_one() searches the ACTIVE screen, which is the help or
        # go-to modal while one is open, and frames keep coming meanwhile.
        self.panels = {
            widget: self.query_one(widget)
            for widget in (SessionHeader, StageTable, ArmsPanel, Distribution, ShareBar, ComparisonPanel, PolicyBar)
        }
        self.refresh_frame()
        self._poll_in_thread()
        if self.open_fleet:
            self.action_fleet()

    def on_resize(self, event) -> None:
        # Short terminals (80x24) drop the stage table's and comparison's frames: every
        # line goes to numbers and the distribution (nvitop-style graceful degradation).
        self.screen.set_class(event.size.height < COMPACT_BELOW_ROWS, "-compact")
        # Nothing else redraws on a resize: panels sized by the layout (sparklines, the
        # histogram, the header's truncation) are drawn again once it is done.
        if hasattr(self, "panels"):
            self.call_after_refresh(self.draw)

    # -- updates -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="poller", name="poll the session database")
    def _poll_in_thread(self) -> None:
        worker = get_current_worker()
        self.poller.run(lambda: worker.is_cancelled or self._leaving, self.post_message,
                        force=lambda: bool(self.pending))

    def on_source_changed(self, message: SourceChanged) -> None:
        self._apply_inbox()

    def on_source_failed(self, message: SourceFailed) -> None:
        if message.error != self._last_source_error:  # the poller retries every interval
            self._last_source_error = message.error
            self.notify(message.error, severity="error")

    def refresh_frame(self) -> None:
        """Poll now, on this thread, and draw: a key moved the replay and the screen must
        answer it in this frame, not an interval later."""
        try:
            self.poller.poll(force=True)
        except (VlmtopError, SQLiteError) as exc:
            self.notify(str(exc), severity="error")
            return
        self._apply_inbox()

    def _apply_inbox(self) -> None:
        update = self.poller.take()
        if update is None:
            return
        self._last_source_error = None
        self.state.apply(update)
        for row in self.state.new_errors[-3:]:  # a burst of errors must not bury the screen
            self.notify(f"seq {row.seq} ({row.sample_id}): {row.error}", title="sample failed",
                        severity="error", timeout=6)
        self._acknowledge_controls()
        self._watch_session_end()
        self.draw()

    def draw(self) -> None:
        state, panels = self.state, self.panels
        panels[SessionHeader].show(state, self.replay)
        panels[StageTable].show(state)
        panels[ArmsPanel].show(state)
        panels[Distribution].show(state)
        panels[ShareBar].show(state)
        panels[ComparisonPanel].show(state)
        pending = {kind: value for kind, (_, value) in self.pending.items()}
        panels[PolicyBar].show(state.policies, pending, self.steerable and self._session_running)
        if isinstance(self.screen, (ArmsScreen, CostModelScreen)):
            self.screen.show(state)
        footer_state = (self._is_paused, self._session_running, state.has_arms)
        if footer_state != self._shown_footer:
            self._shown_footer = footer_state
            self.refresh_bindings()
        self._schedule_comparison()

    def _schedule_comparison(self) -> None:
        """The comparison is recomputed at most once a second: when rows came sooner, draw
        once more when it is due, or the panel would wait for the next sample."""
        due = self.state.comparison_due_in()
        if due is not None and self._comparison_timer is None:
            self._comparison_timer = self.set_timer(due, self._comparison_due)

    def _comparison_due(self) -> None:
        self._comparison_timer = None
        if self.screen_stack:  # a timer due while the app shuts down finds no screen to draw on
            self.draw()

    def exit(self, *args, **kwargs) -> None:
        self._leaving = True
        self.poller.wake()  # the thread notices now, not an interval later
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        # The last thing the app does before run() or run_test() returns: after it the
        # caller closes the store, and the poller's thread must be out of it by then.
        if self._comparison_timer is not None:
            self._comparison_timer.stop()
        self.poller.close()

    @property
    def _session_running(self) -> bool:
        return self.state.session is not None and self.state.session.status == SessionStatus.RUNNING

    def _acknowledge_controls(self) -> None:
        if not self.pending:
            return
        with self.poller.lock:
            answered = {c.id: c for c in self.store.controls(self.session_id) if c.status != "pending"}
        for kind, (control_id, value) in list(self.pending.items()):
            if control_id in answered:
                del self.pending[kind]
                if answered[control_id].status == "rejected":
                    self.notify(f"the worker rejected {kind}={value}", severity="warning")

    def _watch_session_end(self) -> None:
        session = self.state.session
        if session is None or session.status == SessionStatus.RUNNING or self._notified_end or self.replay:
            return
        # Our worker's reason is read once it has exited, and the session can read ended before
        # the process is reaped: look again soon (nothing else calls this once rows stop).
        self._end_seen_at = self._end_seen_at or time.monotonic()
        if (session.status != SessionStatus.FAILED and self.worker is not None and self.worker.poll() is None
                and time.monotonic() - self._end_seen_at < WORKER_EXIT_GRACE_S):
            self.set_timer(0.1, self._watch_session_end)
            return
        self._notified_end = True
        if session.status == SessionStatus.FAILED:
            self.notify(f"session {session.id} failed: {session.error}", title="worker stopped",
                        severity="error", timeout=30)
        elif said := self._worker_fault():
            self.notify(f"session {session.id} {session.status}: {said}", title="worker stopped",
                        severity="error", timeout=30)
        else:
            self.notify(f"session {session.id} {session.status}", timeout=8)
        if self._stopping_since is not None:
            self.exit()

    def _worker_fault(self) -> str | None:
        """Our own worker's one-line reason, once it has exited (None while it runs)."""
        if self.worker_said is None or self.worker is None or self.worker.poll() is None:
            return None
        return self.worker_said()

    # -- keys ----------------------------------------------------------------------------

    def action_help(self) -> None:
        # the keys as they are now, before the help screen's own replace them
        self.push_screen(HelpScreen(self.screen.active_bindings, replay=self.replay is not None))

    def action_select(self, delta: int) -> None:
        self.state.move_selection(delta)
        self.draw()

    def action_cycle_arm(self) -> None:
        self.state.cycle_arm()
        self.draw()

    def action_arms(self) -> None:
        self.push_screen(ArmsScreen())

    def action_fleet(self) -> None:
        session = self.state.session
        if session is None or not session.experiment_id:
            self.notify("this session belongs to no experiment: the fleet view is for `vlmtop run --ray` "
                        "and --repeat runs", severity="warning")
            return
        self.push_screen(FleetScreen(self.store.path, session.experiment_id, self.session_id, self.state.selected),
                         self._follow)

    def _follow(self, session_id: str | None) -> None:
        """Enter on the fleet screen: the dashboard follows that session from now on, as
        `vlmtop attach SESSION` would (a replay replays it)."""
        if session_id is None or session_id == self.session_id:
            return
        if self.worker is not None:  # q would stop our worker's session, not the one shown
            self.notify(f"this dashboard runs its own worker: `vlmtop attach {session_id}` follows the other",
                        severity="warning")
            return
        # The new source reads the store as it starts: under the lock, as every use of the
        # one connection is (two threads in one sqlite3 connection can crash the process).
        with self.poller.lock:
            source = type(self.source)(self.store, session_id, window=self.source.window)
        old, selected = self.poller, self.state.selected
        self.poller = Poller(source, old.interval)
        self.poller.lock = old.lock  # one store connection: the old thread may still be in a poll
        self.source, self.session_id = source, session_id
        self.replay = source if source.can_seek else None
        self.state = DashboardState(window=source.window, selected=selected)
        self.pending.clear()
        self._notified_end, self._end_seen_at = False, None
        self._poll_in_thread()  # exclusive: cancels the old poller's thread
        old.close()  # ... which may be in a poll, or about to start one
        self.refresh_frame()

    def action_cost_model(self) -> None:
        self.push_screen(CostModelScreen())

    def action_reset(self) -> None:
        self.state.reset_statistics()
        self.notify("statistics window reset")
        self.draw()

    @property
    def _is_paused(self) -> bool:
        return not self.replay.playing if self.replay is not None else self.state.paused

    @property
    def _attached(self) -> bool:
        """Watching a live run this dashboard did not start (`vlmtop attach`)."""
        return self.worker is None and self.replay is None and self._session_running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A replay is steered through its playback and shows the policies as recorded; a live
        # session has nothing to step through. The footer and the help list what is left.
        if action in STEERING_ACTIONS and self.replay is not None:
            return False
        if action in REPLAY_ACTIONS:
            return self.replay is not None
        if action in ("detach", "stop_attached"):
            return self._attached
        if action in ("quit_session", "stop_run"):
            return not self._attached
        if action in ("cycle_arm", "arms"):
            return self.state.has_arms  # one arm: nothing to cycle, no `a` in the footer
        if action in ("pause", "resume"):
            if self.replay is None and not self._session_running:
                return False  # a finished session has nothing to pause: no space in the footer
            return self._is_paused == (action == "resume")
        return True

    def action_export(self) -> None:
        out = Path.cwd() / f"vlmtop-{self.session_id}.db"
        try:
            with self.poller.lock:
                count = export_session(self.store, self.session_id, "sqlite", out, overwrite=True)  # its own file
        except VlmtopError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"exported {count} samples to {out}")

    def action_screenshot(self) -> None:
        path = self.save_screenshot(path=str(Path.cwd()))
        self.notify(f"screenshot saved to {path}")

    def action_quit_session(self) -> None:
        """Our own worker: ask it to stop (the sample in flight finishes), then leave once
        the session reads completed. Attached or replayed: just leave."""
        if self.worker is None or self.worker.poll() is not None or not self._session_running:
            self.exit()
            return
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
            self._control("stop", None)
            self.notify("stopping the worker after the sample in flight…")
            self.set_interval(0.2, self._check_stopped)

    def action_interrupt(self) -> None:
        """Ctrl+C: quit as q does (an attached run is left running)."""
        self.action_quit_session()

    def action_detach(self) -> None:
        self.exit()

    def _check_stopped(self) -> None:
        if self.worker.poll() is not None or time.monotonic() - self._stopping_since > STOP_WAIT_S:
            self.exit()
