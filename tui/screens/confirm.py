"""`S`: stop the run, after a yes. Stopping cannot be undone, so one key is not enough."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; height: auto; border: thick $error; background: $surface; padding: 0 1; }
    """
    BINDINGS = [("y", "answer(True)", "yes"), ("n,escape,q", "answer(False)", "no")]

    def __init__(self, question: str, detail: str = ""):
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="title")
            if self.detail:
                yield Static(self.detail)
            yield Static("y: yes   n / escape: no", classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
