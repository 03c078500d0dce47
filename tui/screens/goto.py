"""`g` in replay: jump to a sample number."""

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
            yield Static(f"go to sample (1..{self.total})")
            yield Input(placeholder="sample number", type="integer", id="goto")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(int(event.value) - 1)
        except ValueError:
            self.dismiss(None)
