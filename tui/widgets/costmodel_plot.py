"""A small character plot for the cost-model screen: each arm's median as its number, the
fitted curve in braille dots, the curve's 95 % band as a shade behind it.

Hand-made rather than a plotting package (textual-plotext pulls plotext in for one chart):
the chart has three kinds of marks and fixed axes from 0, and a function from data to a
character grid is easy to test cell by cell (:func:`render_plot`).

Axes start at 0 on both sides: a stage's intercept is part of what the fit says, and a y axis
cut above 0 would make a 3 % difference between arms look like a doubling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.widget import Widget

from vlmtop.tui.state.costmodel_fit import PlotData

MARKERS = "123456789abcdefghijklmnopqrstuvwxyz"  # arm i is drawn as MARKERS[i]; the legend uses the same
BOTTOM_ROWS = 2  # the x axis line and its tick labels
# Braille: a cell is 2 dots wide and 4 high; bit of the dot at (column, row) within the cell.
BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
BRAILLE_BASE = 0x2800


def marker(index: int) -> str:
    return MARKERS[index] if index < len(MARKERS) else "*"


def tick(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


@dataclass
class Grid:
    """Where data lands: `cols` x `rows` cells of plot area right of a `left`-wide y axis."""

    cols: int
    rows: int
    x_max: float
    y_max: float

    def cell(self, x: float, y: float) -> tuple[int, int]:
        """(column, row) of the cell holding (x, y); row 0 is the top."""
        col = round(min(max(x / self.x_max, 0.0), 1.0) * (self.cols - 1))
        row = self.rows - 1 - round(min(max(y / self.y_max, 0.0), 1.0) * (self.rows - 1))
        return col, row

    def dot(self, x: float, y: float) -> tuple[int, int]:
        """(dot column, dot row) on the braille raster, 2 x 4 dots per cell."""
        dx = round(min(max(x / self.x_max, 0.0), 1.0) * (2 * self.cols - 1))
        dy = 4 * self.rows - 1 - round(min(max(y / self.y_max, 0.0), 1.0) * (4 * self.rows - 1))
        return dx, dy


def render_plot(data: PlotData, width: int, height: int, *, point_style: str = "bold", curve_style: str = "",
                band_style: str = "on grey23", axis_style: str = "dim") -> Text:
    """The chart as `height` lines of at most `width` cells."""
    y_max = data.y_max()
    labels = [tick(y_max), tick(y_max / 2), "0"]
    left = max(map(len, labels)) + 1  # labels, then the axis line
    grid = Grid(max(2, width - left), max(2, height - BOTTOM_ROWS), max(data.x_max, 1e-12), y_max)
    chars = [[" "] * grid.cols for _ in range(grid.rows)]
    styles = [[""] * grid.cols for _ in range(grid.rows)]

    if data.band:  # the band behind everything: each cell column at its centre's x
        xs, lows, highs = (np.array(v, dtype=float) for v in zip(*data.band))
        for col in range(grid.cols):
            x = col / max(grid.cols - 1, 1) * grid.x_max
            _, top = grid.cell(x, float(np.interp(x, xs, highs)))
            _, bottom = grid.cell(x, float(np.interp(x, xs, lows)))
            for row in range(top, bottom + 1):
                styles[row][col] = band_style

    if data.curve:  # one dot per dot column, joined vertically where the curve is steep
        xs, ys = (np.array(v, dtype=float) for v in zip(*data.curve))
        bits = [[0] * grid.cols for _ in range(grid.rows)]
        previous = None
        for dx in range(2 * grid.cols):
            x = dx / (2 * grid.cols - 1) * grid.x_max
            if x < xs[0] or x > xs[-1]:
                continue
            _, dy = grid.dot(x, float(np.interp(x, xs, ys)))
            span = range(dy, dy + 1) if previous is None else range(min(dy, previous), max(dy, previous) + 1)
            for row in span:
                bits[row // 4][dx // 2] |= BRAILLE_BITS[row % 4][dx % 2]
            previous = dy
        for row in range(grid.rows):
            for col in range(grid.cols):
                if bits[row][col]:
                    chars[row][col] = chr(BRAILLE_BASE + bits[row][col])
                    styles[row][col] = f"{curve_style} {styles[row][col]}".strip()

    for index, (x, y) in enumerate(data.points):  # the measurements on top of the fit
        if math.isfinite(x) and math.isfinite(y):
            col, row = grid.cell(x, y)
            chars[row][col] = marker(index)
            styles[row][col] = f"{point_style} {styles[row][col]}".strip()

    text = Text(no_wrap=True, overflow="crop")
    # each label on the row its value lands on, as the points do
    label_rows = {grid.cell(0, value)[1]: label for value, label in zip((y_max, y_max / 2, 0.0), labels)}
    for row in range(grid.rows):
        label = label_rows.get(row)
        text.append((label or "").rjust(left - 1) + ("┤" if label else "│"), style=axis_style)
        for col in range(grid.cols):
            text.append(chars[row][col], style=styles[row][col] or None)
        text.append("\n")
    ticks = {grid.cell(value, 0)[0]: tick(value) for value in (0.0, grid.x_max / 2, grid.x_max)}
    axis = "".join("┬" if col in ticks else "─" for col in range(grid.cols))
    text.append(" " * (left - 1) + "└" + axis + "\n", style=axis_style)
    line = [" "] * grid.cols
    for col, label in ticks.items():  # centred under its tick, kept inside the plot
        start = min(max(col - len(label) // 2, 0), grid.cols - len(label))
        line[start:start + len(label)] = label
    text.append(" " * left + "".join(line), style=axis_style)
    return text


class CostModelPlot(Widget):
    """Draws a :class:`PlotData` to whatever size the layout gives it."""

    DEFAULT_CSS = "CostModelPlot { height: 1fr; min-height: 7; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.data: PlotData | None = None
        self.styles_for_marks: dict[str, str] = {}

    def show(self, data: PlotData | None, **styles: str) -> None:
        self.data, self.styles_for_marks = data, styles
        self.refresh()

    def render(self) -> Text:
        if self.data is None:
            return Text("")
        return render_plot(self.data, self.size.width, self.size.height, **self.styles_for_marks)
