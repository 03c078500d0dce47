"""Histogram of the selected stage over the window, with p50 / p90 / p99 marks."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

from vlmtop.sessions.stats import HIGH_MILD, HIGH_SEVERE, LOW_MILD, LOW_SEVERE, classify_outliers, count_outliers

from .colors import stage_color
from .format import ms

BLOCKS = " ▁▂▃▄▅▆▇█"


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
        marks = [" "] * width
        for q, symbol in ((50.0, "│"), (90.0, "┆"), (99.0, "┊")):
            column = int((window.percentile(q) - lo) / (hi - lo) * (width - 1))
            marks[max(0, min(width - 1, column))] = symbol
        text.append("".join(marks) + "\n", style="bold")
        left, right = ms(lo, 0).strip(), ms(hi, 0).strip()
        middle = f"p50 {ms(window.percentile(50), 0)} p90 {ms(window.percentile(90), 0)} p99 {ms(window.percentile(99), 0)}"
        gap = max(1, width - len(left) - len(right) - len(middle))
        text.append(left + " " * (gap // 2) + middle + " " * (gap - gap // 2) + right, style="dim")
        return text
