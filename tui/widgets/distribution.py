"""Histogram of the selected stage over the window, with p50 / p90 / p99 marks."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

from vlmtop.core.format import ms
from vlmtop.core.text import markup_safe
from vlmtop.sessions.analysis.outliers import (
    HIGH_MILD,
    HIGH_SEVERE,
    LOW_MILD,
    LOW_SEVERE,
    classify_outliers,
    count_outliers,
)
from vlmtop.tui.theme import stage_color

BLOCKS = " ▁▂▃▄▅▆▇█"
MARKS = ((50.0, "│"), (90.0, "┆"), (99.0, "┊"))


def axis_line(width: int, marks: list[tuple[int, str, str]], lo: str, hi: str) -> str:
    """The line under the marks: each label carries its mark's glyph, placed right under
    that mark when there is room, and the range's ends where they still fit.

    ``marks`` holds (column, glyph, text) in increasing column order. A label reads
    "│p50 4.50" from its mark on; near the right edge it reads "p99 6.02┊", ending at it.
    Labels never overlap: one that cannot sit at its mark is pushed right (or, at the
    edge, the set is pulled back), still led by its glyph; if even that does not fit,
    the glyphs alone are drawn.
    """
    placed, end = [], 0  # (start, label) and the first free column
    for column, glyph, text in marks:
        label = glyph + text
        start = max(column, end)
        if start + len(label) > width and column - len(text) >= end:
            start, label = column - len(text), text + glyph  # ends at its mark
        placed.append((start, label))
        end = start + len(label) + 1
    limit = width
    for index in range(len(placed) - 1, -1, -1):  # pull back from the right edge
        start, label = placed[index]
        placed[index] = (min(start, limit - len(label)), label)
        limit = placed[index][0] - 1
    line = [" "] * width
    if placed and placed[0][0] < 0:
        for column, glyph, _ in marks:
            line[max(0, min(width - 1, column))] = glyph
        return "".join(line)
    for start, label in placed:
        line[start : start + len(label)] = label
    first = placed[0][0] if placed else width
    last = placed[-1][0] + len(placed[-1][1]) if placed else 0
    if len(lo) < first:
        line[: len(lo)] = lo
    if last < width - len(hi):
        line[width - len(hi) :] = hi
    return "".join(line)


class Distribution(Widget):
    DEFAULT_CSS = """
    Distribution { height: 100%; border: round $secondary; padding: 0 1; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._state = None

    def show(self, state) -> None:
        self._state = state
        arm = f" · {state.arm_name()}" if state.has_arms else ""
        self.border_title = f"distribution · {markup_safe(state.selected_label)}{markup_safe(arm)}"  # markup: escaped
        # outliers are counted and kept: every percentile above includes them
        counts = count_outliers(classify_outliers(state.selected_window().values()))
        low, high = counts[LOW_MILD] + counts[LOW_SEVERE], counts[HIGH_MILD] + counts[HIGH_SEVERE]
        self.border_subtitle = f"Tukey outliers kept: {low} low, {high} high" if low or high else ""
        self.refresh()

    def render(self) -> Text:
        state = self._state
        width, height = max(10, self.content_size.width), max(3, self.content_size.height)
        if state is not None and state.selected_label in state.unlocated:
            name = state.selected_label
            return Text(f"{name}: not located, its time is in other (declare it with --stage {name}=PATH)",
                        style="italic")
        if state is not None and state.selected_label in state.not_run and len(state.selected_window()) == 0:
            return Text(f"{state.selected_label}: not run, the prompts are text-only", style="italic")
        if state is None or len(state.selected_window()) == 0:
            return Text("no measured samples yet", style="italic")
        window = state.selected_window()
        # Freedman-Diaconis bins (never more than columns), each drawn as wide as fits:
        # a few hundred samples over 150 columns would otherwise look like noise.
        histogram = window.histogram(max_bins=min(width, 60))
        lo, hi = float(histogram.edges[0]), float(histogram.edges[-1])
        if hi <= lo:
            hi = lo + max(abs(lo) * 0.01, 1e-6)
        bins = len(histogram.counts)
        counts = histogram.counts[np.minimum(np.arange(width) * bins // width, bins - 1)]
        rows = height - 2  # one line for the marks, one for the axis
        scale = counts.max() or 1
        color = stage_color(self.app, state.selected_label)
        text = Text()
        # One span per line, not per cell: a cell-by-cell Text at 200x50 is thousands of
        # styled spans, which made a redraw cost ~0.2 s of CPU.
        heights = np.rint(counts / scale * rows * 8).astype(int)
        for level in range(rows, 0, -1):
            eighths = np.clip(heights - (level - 1) * 8, 0, 8)
            text.append("".join(BLOCKS[e] for e in eighths) + "\n", style=color)
        marks, labels = [" "] * width, []
        for q, glyph in MARKS:
            value = window.percentile(q)
            column = max(0, min(width - 1, int((value - lo) / (hi - lo) * (width - 1))))
            marks[column] = glyph
            labels.append((column, glyph, f"p{q:g} {ms(value, 0)}"))
        text.append("".join(marks) + "\n", style="bold")
        text.append(axis_line(width, labels, ms(lo, 0), ms(hi, 0)), style="dim")
        return text
