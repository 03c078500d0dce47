"""Where e2e goes: each stage's share of the mean end-to-end time, as one stacked bar."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from vlmtop.tui.theme import stage_color


class ShareBar(Widget):
    DEFAULT_CSS = """
    ShareBar { height: 100%; border: round $accent; padding: 0 1; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._shares: list[tuple[str, float]] = []
        self._absent: list[tuple[str, str]] = []  # (stage, why it has no share)

    def on_mount(self) -> None:
        self.border_title = "share of e2e"

    def show(self, state) -> None:
        self._shares = state.shares()
        self._absent = [(stage, "not located") for stage in sorted(state.unlocated)] + \
            [(stage, "not run") for stage in sorted(state.not_run - state.unlocated)]
        self.refresh()

    def render(self) -> Text:
        width = max(10, self.content_size.width)
        if not self._shares:
            return Text("no measured samples yet", style="italic")
        text = Text()
        used = 0
        for index, (stage, share) in enumerate(self._shares):
            cells = width - used if index == len(self._shares) - 1 else round(share * width)
            text.append("█" * max(0, cells), style=stage_color(self.app, stage))
            used += max(0, cells)
        text.append("\n")
        for stage, share in self._shares:
            text.append("■ ", style=stage_color(self.app, stage))
            text.append(f"{stage:<10}{share:>6.1%}\n")
        for stage, why in self._absent:  # not located (its time is in other), or not run
            text.append(f"  {stage:<10}{why}\n", style="italic")
        return text
