"""Histogram of the selected stage over the window, with p50 / p90 / p99 marks."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

from vlmtop.sessions.stats import HIGH_MILD, HIGH_SEVERE, LOW_MILD, LOW_SEVERE, classify_outliers, count_outliers

from .colors import stage_color
from .format import ms

BLOCKS = " ▁▂▃▄▅▆▇█"
MARKS = ((50.0, "│"), (90.0, "┆"), (99.0, "┊"))


def axis_line(width: int, marks: list[tuple[int, str]], lo: str, hi: str) -> str:
    """The line under the marks: each label starts with its mark's glyph, under that mark
    when there is room (else as near as it fits), and the range's ends where they still fit.

    ``marks`` holds (column, label) in increasing column order. Labels never overlap: a
    label that would is pushed right, and the whole set is pulled back from the right edge.
    """
    starts, end = [], 0
    for column, label in marks:
        starts.append(max(column, end))
        end = starts[-1] + len(label) + 1
    limit = width
    for index in range(len(marks) - 1, -1, -1):  # pull back from the right edge
        starts[index] = min(starts[index], limit - len(marks[index][1]))
        limit = starts[index] - 1
    line = [" "] * width
    if starts and starts[0] < 0:  # too narrow for every label: the glyphs alone
        for column, label in marks:
            line[max(0, min(width - 1, column))] = label[0]
        return "".join(line)
    for start, (_, label) in zip(starts, marks):
        line[start : start + len(label)] = label
    first = starts[0] if starts else width
    last = starts[-1] + len(marks[-1][1]) if starts else 0
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
        self.border_title = f"distribution · {state.selected_label}"
        # outliers are counted and kept: every percentile above includes them
        counts = count_outliers(classify_outliers(state.selected_window().values()))
        low, high = counts[LOW_MILD] + counts[LOW_SEVERE], counts[HIGH_MILD] + counts[HIGH_SEVERE]
        self.border_subtitle = f"Tukey outliers kept: {low} low, {high} high" if low or high else ""
        self.refresh()

    def render(self) -> Text:
        state = self._state
        width, height = max(10, self.content_size.width), max(3, self.content_size.height)
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
        for level in range(rows, 0, -1):
            for count in counts:
                eighths = int(round(count / scale * rows * 8)) - (level - 1) * 8
                text.append(BLOCKS[max(0, min(8, eighths))], style=color)
            text.append("\n")
        marks, labels = [" "] * width, []
        for q, glyph in MARKS:
            value = window.percentile(q)
            column = max(0, min(width - 1, int((value - lo) / (hi - lo) * (width - 1))))
            marks[column] = glyph
            labels.append((column, f"{glyph}p{q:g} {ms(value, 0)}"))
        text.append("".join(marks) + "\n", style="bold")
        text.append(axis_line(width, labels, ms(lo, 0), ms(hi, 0)), style="dim")
        return text
