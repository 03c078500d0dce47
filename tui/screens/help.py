"""`?`: every key that works in the dashboard now, read from its active bindings (so a key
is written once, in BINDINGS), in a box that scrolls on a short terminal."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import ActiveBinding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def key_rows(app, active: dict[str, ActiveBinding]) -> list[tuple[str, str]]:
    """(keys, what they do) for the app's active bindings: the app's own BINDINGS in their
    order, then Textual's (^q, the palette). Keys with the same words share a row (↑ ↓); what
    a key does is its tooltip, or else its description. Only the app's: a screen's tab and
    shift+tab focus keys do nothing on the dashboard."""
    order = {(b.action, b.description): i for i, b in reversed(list(enumerate(type(app).BINDINGS)))}
    rows: dict[tuple[str, str], list[str]] = {}
    for node, binding, _enabled, _tooltip in sorted(
        active.values(), key=lambda a: order.get((a.binding.action, a.binding.description), len(order))
    ):
        if node is not app or binding.system:
            continue
        keys = rows.setdefault((binding.description, binding.tooltip or binding.description), [])
        if (shown := app.get_key_display(binding)) not in keys:
            keys.append(shown)
    return [(" ".join(keys), what) for (_, what), keys in rows.items()]


class HelpScreen(ModalScreen):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; height: auto; max-height: 100%;
        border: thick $primary; border-subtitle-color: $text-muted; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, active: dict[str, ActiveBinding], replay: bool):
        super().__init__()
        self.active = active
        self.replay = replay

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, what in key_rows(self.app, self.active):
            table.add_row(keys, what)
        # focusable (the first widget, so it has the focus): ↑ ↓ page up/down home end scroll it
        with VerticalScroll() as box:
            box.border_subtitle = "↑ ↓ scroll · escape closes"
            yield Static("vlmtop keys" + (" (replay)" if self.replay else ""), classes="title")
            yield Static(table)
