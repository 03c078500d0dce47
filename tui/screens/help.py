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
    ("↑ / ↓", "select a stage: the distribution panel and the arms' ratio column follow"),
    ("a", "runs with arms: show the next arm. The stage table, distribution, share bar and "
          "policy comparison are of ONE arm (the baseline first, named on the table's heading); "
          "arms are never pooled"),
    ("A", "runs with arms: every arm against the baseline, every stage (ratio, 95% CI, p, verdict)"),
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
