"""`?`: every key, for the mode the dashboard is in."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

COMMON = (
    ("q / ctrl+c", "quit (run: stops the worker, the session completes; attach: detach)"),
    ("?", "this help"),
    ("↑ / ↓", "select a stage: the distribution and the arms' ratio follow"),
    ("a", "show the next arm: stage table, distribution and share bar show one arm "
          "(the baseline first), never arms pooled"),
    ("A", "all arms vs the baseline: ratio, 95% CI, p, verdict per stage"),
    ("F", "the fleet: every session of the experiment, per session, host or device (run --ray)"),
    ("M", "cost model of a sweep: each arm's median of the selected stage vs its token count, the fit"),
    ("r", "reset the statistics window (watch from now on)"),
    ("e", "export the session (standalone SQLite file in the current folder)"),
    ("s", "save an SVG screenshot"),
)
LIVE = (
    ("space", "pause / resume the worker"),
    ("S", "stop the run after the sample in flight (asks first; attached runs too)"),
    ("c", "cycle the cache policy: keep → empty"),
    ("w", "cycle the warm-up policy: none → 3 → per-sample"),
    ("t", "cycle the timing mode: events → sync → multipass"),
    ("k", "fix a knob (NAME=VALUE) from the next sample on: a new segment"),
)
REPLAY = (
    ("space", "play / pause"),
    ("[ / ]", "step one sample back / forward"),
    ("g", "go to a sample by its seq"),
    ("+ / -", "faster / slower"),
    ("home / end", "first / last sample"),
)


class HelpScreen(ModalScreen):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, replay: bool):
        super().__init__()
        self.replay = replay

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        for key, what in COMMON + (REPLAY if self.replay else LIVE):
            table.add_row(key, what)
        with Vertical():
            yield Static("vlmtop keys" + (" (replay)" if self.replay else ""), classes="title")
            yield Static(table)
            yield Static("escape closes", classes="dim")
