"""`k`: fix a knob of the running session from the next sample on (a new segment).

Lists the knobs that apply to the session's model with the values allowed here, and reads
one `NAME=VALUE`. The value is checked with the knob's own parser before anything is sent,
so a typo is one line on this screen, not a rejected control; a knob the session's arms
vary is refused here too (fixing it would end the comparison the run was started for).
The worker checks again when it applies the control (sessions/run/controls.py).
"""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import shown
from vlmtop.sessions.knobs import KNOBS, POLICY_KNOBS, Knob, format_value, split_setting


def knobs_for(family: str | None) -> list[Knob]:
    """The knobs `k` offers: those that apply to the family (all when it is unknown: a hub
    model's family is known to its worker only), the policies left to their own keys."""
    return [spec for spec in KNOBS.values() if spec.applies_to(family) and spec.name not in POLICY_KNOBS]


def parse_choice(text: str, family: str | None, varied: set[str]) -> tuple[str, str]:
    """`NAME=VALUE` -> (name, the value as the worker's parser writes it); raises VlmtopError."""
    spec, value = split_setting(text, family, f"{text!r}: type NAME=VALUE, e.g. max_new_tokens=32")
    if spec.name in varied:
        raise VlmtopError(f"{spec.name} is varied by this session's arms: fixing it would end their comparison")
    return spec.name, format_value(spec.parse(value))


class KnobsScreen(ModalScreen[tuple[str, str] | None]):
    DEFAULT_CSS = """
    KnobsScreen { align: center middle; }
    KnobsScreen > Vertical { width: 78; height: auto; max-height: 100%; border: thick $primary;
                             background: $surface; padding: 0 1; }
    KnobsScreen #knob-error { color: $error; }
    """
    BINDINGS = [("escape", "dismiss", "cancel")]

    def __init__(self, family: str | None, current: dict, varied: set[str]):
        super().__init__()
        self.family, self.current, self.varied = family, current, varied

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1), header_style="dim")
        for column in ("knob", "now", "values"):
            table.add_column(column, no_wrap=column != "values")
        for spec in knobs_for(self.family):
            now = "arms" if spec.name in self.varied else format_value(self.current[spec.name]) if spec.name in self.current else "-"
            table.add_row(spec.name, now, spec.values_here(), style="dim" if spec.name in self.varied else None)
        with Vertical():
            yield Static(f"fix a knob from the next sample on ({self.family or 'family known to the worker'}); "
                         "a new segment starts there")
            yield Static(table, id="knob-list")
            yield Input(placeholder="NAME=VALUE, e.g. max_new_tokens=32", id="knob-input")
            yield Static("", id="knob-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_choice(event.value, self.family, self.varied))
        except VlmtopError as exc:
            self.query_one("#knob-error", Static).update(shown(exc))  # it quotes what was typed
