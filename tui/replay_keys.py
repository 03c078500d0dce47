"""The replay keys of the dashboard: step, speed, first/last and go to a seq.

A mixin of :class:`~vlmtop.tui.app.VlmtopApp` (it uses the app's ``replay`` source, its
poller's lock and its redraws); on a live session ``replay`` is None and the keys do nothing.
"""

from __future__ import annotations

from textual.binding import Binding

from vlmtop.tui.screens.goto import GotoScreen

# Part of VlmtopApp.BINDINGS (Textual reads BINDINGS from widget classes only, not from a mixin).
REPLAY_BINDINGS = [
    Binding("left_square_bracket", "step(-1)", "step back", show=False, tooltip="step back one sample"),
    Binding("right_square_bracket", "step(1)", "step", show=False, tooltip="step one sample forward"),
    Binding("g", "goto", "go to", show=False, tooltip="go to a sample by its seq"),
    Binding("plus,equals_sign", "speed(1)", "faster", show=False, tooltip="faster playback"),
    Binding("minus", "speed(-1)", "slower", show=False, tooltip="slower playback"),
    Binding("home", "home", "first", show=False, tooltip="first sample"),
    Binding("end", "end", "last", show=False, tooltip="last sample"),
]
REPLAY_ACTIONS = {binding.action.partition("(")[0] for binding in REPLAY_BINDINGS}


class ReplayKeys:
    def action_step(self, delta: int) -> None:
        if self.replay is not None:
            with self.poller.lock:
                self.replay.step(delta)  # pauses: a stepped-to sample is there to look at
            self.refresh_frame()

    def action_speed(self, direction: int) -> None:
        if self.replay is not None:
            with self.poller.lock:
                self.replay.faster() if direction > 0 else self.replay.slower()
            self.draw()

    def action_home(self) -> None:
        if self.replay is not None:
            with self.poller.lock:
                self.replay.home()
            self.refresh_frame()

    def action_end(self) -> None:
        if self.replay is not None:
            with self.poller.lock:
                self.replay.end()
            self.refresh_frame()

    def action_goto(self) -> None:
        if self.replay is None:
            return

        def go(seq: int | None) -> None:
            if seq is not None:
                with self.poller.lock:
                    self.replay.pause()
                    self.replay.seek(seq)
                self.refresh_frame()

        self.push_screen(GotoScreen(self.state.total), go)
