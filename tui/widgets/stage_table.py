"""One row per stage: last, p50, p90, p99 and a sparkline of recent samples.

In a run with arms every figure is of ONE arm, named in the heading (`a` moves on), with
what the newest sample fed the model (its images and image tokens). A standard stage the
locator did not find reads "not located" instead of a row of zeros (its time is in other),
vision and projector read "not run" on a text-only prompt, and speculative decoding is marked on the decode_per_token row, with the
tokens each language-model call emitted."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from vlmtop.core.format import ms
from vlmtop.core.stage_table import BY_NAME
from vlmtop.tui.state import STAGES
from vlmtop.tui.theme import stage_color

COLUMNS = ("last", "p50", "p90", "p99")
MARK, CELL_WIDTH = 2, 8  # "▶ ", one ms figure
LABEL_WIDTH = max(map(len, BY_NAME)) + 1  # the longest stage name (core/stage_table.py)
CELLS_WIDTH = MARK + LABEL_WIDTH + CELL_WIDTH * len(COLUMNS) + 1  # + a space before the sparkline
MIN_SPARK_POINTS = 8
NOT_LOCATED = "  not located: time in other"
NOT_RUN = "  not run: text-only prompt"


class StageRow(Horizontal):
    DEFAULT_CSS = """
    StageRow { height: 1; }
    StageRow.-selected { background: $boost; }
    StageRow Sparkline { width: 1fr; height: 1; margin: 0 1 0 0; }
    """

    def __init__(self, label: str):
        super().__init__(id=f"row-{label.replace('/', '-')}")
        self.label = label
        # kept as attributes: the first frame can come before nested children are mounted
        self.cells = Static(classes="cells")
        self.cells.styles.width, self.cells.styles.height = CELLS_WIDTH, 1
        self.sparkline = Sparkline([], summary_function=max)

    def compose(self) -> ComposeResult:
        yield self.cells
        yield self.sparkline

    def on_mount(self) -> None:
        # the sparkline in the stage's own colour: dim for low values, full for high ones
        color = Color.parse(stage_color(self.app, self.label))
        self.sparkline.max_color = color
        self.sparkline.min_color = color.with_alpha(0.45)

    def show(self, view, selected: bool, absent: str | None = None, note: str = "") -> None:
        """``absent``: why the stage has no figures (NOT_LOCATED, NOT_RUN), shown instead."""
        self.set_class(selected, "-selected")
        cells = Text(("▶ " if selected else "  ") + view.label.ljust(LABEL_WIDTH), style=stage_color(self.app, view.label))
        located = absent is None
        if not located:
            cells.append(absent.ljust(CELL_WIDTH * len(COLUMNS)), style="italic")
        else:
            for value in (view.last, view.p50, view.p90, view.p99):
                cells.append(ms(value, CELL_WIDTH))
        if note:
            cells.append(" " + note, style="bold")
        width = CELLS_WIDTH + (len(note) + 1 if note else 0)
        if self.cells.styles.width is None or self.cells.styles.width.value != width:
            self.cells.styles.width = width
        self.cells.update(cells)
        # Fewer than two values is no trend: Textual would draw one value as a full-height
        # block, which read as "everything is at its maximum" before the first sample.
        self.sparkline.data = view.recent if len(view.recent) > 1 and located else []
        self.sparkline.display = located  # not even the empty baseline: there is no series


class StageTable(Vertical):
    """The main panel. Up/down (handled by the app) move the selection."""

    DEFAULT_CSS = """
    StageTable { height: auto; border: round $primary; border-title-color: $foreground; }
    StageTable .heading { height: 1; color: $text-muted; }
    """

    HEADING = " " * MARK + "stage ms".ljust(LABEL_WIDTH) + "".join(c.rjust(CELL_WIDTH) for c in COLUMNS) + "   recent"

    def compose(self) -> ComposeResult:
        self.heading = Static(self.HEADING, classes="heading")
        yield self.heading
        for label, _ in STAGES:
            yield StageRow(label)

    def on_mount(self) -> None:
        self.border_title = "stages"

    def show(self, state) -> None:
        # one sample per sparkline cell: as many as the sparkline is wide once laid out
        rows = list(self.query(StageRow))
        points = max([MIN_SPARK_POINTS] + [row.sparkline.size.width for row in rows])
        absent = {name: NOT_RUN for name in state.not_run} | {name: NOT_LOCATED for name in state.unlocated}
        per_step = state.tokens_per_step()
        for index, (row, view) in enumerate(zip(rows, state.stage_views(points))):
            note = f"speculative: {per_step:.2f} tok/step" if view.label == "decode_per_token" and per_step else ""
            row.show(view, index == state.selected, absent.get(view.label), note)
        self._show_arm(" · ".join(filter(None, (state.arm_title(), state.inputs_title()))))

    def _show_arm(self, title: str) -> None:
        """Which arm the figures are of and what its newest sample fed the model, on the
        heading line (the border is gone at 80x24)."""
        heading = Text(self.HEADING)
        if title:
            room = self.content_size.width - len(self.HEADING) - 3
            if len(title) > room:  # the arm matters more than the word "recent"
                heading, room = Text(self.HEADING.removesuffix("recent").rstrip()), room + len("recent") + 3
            shown = title if len(title) <= room else title[: max(0, room - 1)] + "…"
            heading.append(" · " if heading.plain.endswith("recent") else "   ")
            heading.append(shown, style="bold")
        self.heading.update(heading)
