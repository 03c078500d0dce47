"""`g` in replay: jump to a sample by its seq, the number the database and exports use."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class GotoScreen(ModalScreen[int | None]):
    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical { width: 40; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [("escape", "dismiss", "cancel")]

    def __init__(self, total: int):
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"go to seq (0..{self.total - 1})")
            yield Input(placeholder="seq", type="integer", id="goto")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(int(event.value))
        except ValueError:
            self.dismiss(None)
