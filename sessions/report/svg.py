"""The report's charts as inline SVG strings: strips per group, a timeline, a forest plot,
and points with a fitted curve.

Plain SVG written here rather than a plotting library: the page then needs no script to
draw (it renders the same in a browser, a PR preview or a screenshot), weighs a few
hundred KB at most, adds no dependency, and every mark carries the number it stands for
in a data- attribute, so tests can check the picture against the database.
"""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e")
HELD_OUT = "#d62728"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 12) for i in range(int((hi - start) / step + 1e-9) + 1)]


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


class Scale:
    """domain -> pixels, linear or log10."""

    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False):
        if hi <= lo:
            lo, hi = (lo - 1, hi + 1) if not log else (lo / 2, hi * 2)
        self.lo, self.hi, self.a, self.b, self.log = lo, hi, a, b, log

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def __call__(self, v: float) -> float:
        return self.a + (self._t(v) - self._t(self.lo)) / (self._t(self.hi) - self._t(self.lo)) * (self.b - self.a)

    def ticks(self) -> list[float]:
        if not self.log:
            return nice_ticks(self.lo, self.hi)
        out = [m * 10 ** k for k in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1)
               for m in (1, 2, 5)]
        return [t for t in out if self.lo <= t <= self.hi]


def padded(values: list[float], zero: bool = False) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if zero:
        lo = min(lo, 0.0)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.1 or 1.0
    return (lo if zero else lo - pad), hi + pad


def document(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(label)}" {FONT}>' + "".join(body) + "</svg>")


def x_axis(scale: Scale, y: float, title: str, top: float) -> list[str]:
    out = [f'<line x1="{scale.a:.1f}" x2="{scale.b:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#888"/>']
    for t in scale.ticks():
        x = scale(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{y + 13:.1f}" text-anchor="middle" fill="#555">{fmt(t)}</text>')
    out.append(f'<text x="{(scale.a + scale.b) / 2:.1f}" y="{y + 27:.1f}" text-anchor="middle" fill="#333">'
               f'{escape(title)}</text>')
    return out


def y_axis(scale: Scale, x: float, title: str, right: float) -> list[str]:
    out = [f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{scale.a:.1f}" y2="{scale.b:.1f}" stroke="#888"/>']
    for t in scale.ticks():
        y = scale(t)
        out.append(f'<line x1="{x:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{x - 4:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{fmt(t)}</text>')
    out.append(f'<text transform="translate({x - 42:.1f},{(scale.a + scale.b) / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle" fill="#333">{escape(title)}</text>')
    return out


def strips(title: str, groups: list[tuple[str, list[float], str]], unit: str = "ms", width: int = 560) -> str:
    """One row per group: its points (jittered deterministically), the 25..75 % box, the
    10..90 % whiskers and the median as a bar."""
    left, row_h = 150, 26
    height = 40 + row_h * len(groups) + 34
    every = [v for _, values, _ in groups for v in values]
    scale = Scale(*padded(every, zero=True), left, width - 12)
    body = [f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']
    bottom = 30 + row_h * len(groups)
    body += x_axis(scale, bottom, unit, 24)
    for i, (label, values, fill) in enumerate(groups):
        y = 30 + row_h * i + row_h / 2
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        vals = sorted(v for v in values if math.isfinite(v))
        if not vals:
            continue
        q = {p: _quantile(vals, p) for p in (0.1, 0.25, 0.5, 0.75, 0.9)}
        body.append(f'<line x1="{scale(q[0.1]):.1f}" x2="{scale(q[0.9]):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#333"/>'
                    f'<rect x="{scale(q[0.25]):.1f}" y="{y - 7:.1f}" width="{max(scale(q[0.75]) - scale(q[0.25]), 1):.1f}" '
                    f'height="14" fill="{fill}" fill-opacity="0.25" stroke="{fill}"/>'
                    f'<line class="median" data-value="{q[0.5]!r}" x1="{scale(q[0.5]):.1f}" x2="{scale(q[0.5]):.1f}" '
                    f'y1="{y - 9:.1f}" y2="{y + 9:.1f}" stroke="#000" stroke-width="2"/>')
        for k, v in enumerate(values):
            if math.isfinite(v):
                jitter = ((k * 0.618034) % 1 - 0.5) * 12
                body.append(f'<circle data-value="{v!r}" cx="{scale(v):.1f}" cy="{y + jitter:.1f}" r="2" '
                            f'fill="{fill}" fill-opacity="0.7"/>')
    return document(width, height, body, title)


def _quantile(sorted_values: list[float], p: float) -> float:
    pos = (len(sorted_values) - 1) * p
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def timeline(title: str, spans: list[tuple[str, float, float]], lanes: list[str], width: int = 1100) -> str:
    """One lane per stage, a bar per span, time from generate()'s start."""
    left, lane_h = 90, 22
    height = 30 + lane_h * len(lanes) + 40
    end = max((e for _, _, e in spans), default=1.0)
    scale = Scale(0.0, end * 1.02, left, width - 12)
    body = [f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']
    bottom = 26 + lane_h * len(lanes)
    body += x_axis(scale, bottom, "ms since generate() started", 22)
    for i, lane in enumerate(lanes):
        y = 26 + lane_h * i
        body.append(f'<text x="{left - 6}" y="{y + 15:.1f}" text-anchor="end">{escape(lane)}</text>')
    for stage, start, stop in spans:
        if stage not in lanes:
            continue
        y = 26 + lane_h * lanes.index(stage)
        body.append(f'<rect class="span" data-stage="{escape(stage)}" data-start="{start!r}" data-end="{stop!r}" '
                    f'x="{scale(start):.2f}" y="{y + 3:.1f}" width="{max(scale(stop) - scale(start), 0.8):.2f}" '
                    f'height="{lane_h - 6}" fill="{color(lanes.index(stage))}"><title>{escape(stage)} '
                    f'{start:.2f}-{stop:.2f} ms</title></rect>')
    return document(width, height, body, title)


# A verdict's colour: the dashboard's (tui/widgets/comparison.py VERDICT_STYLE) as web colours.
VERDICT_FILL = {"faster": "#3ca951", "slower": "#d62728", "inconclusive": "#d08c00", "same": "#555"}


def forest(title: str, rows: list[dict], threshold: float, width: int = 760) -> str:
    """Ratios (arm / baseline) with their CIs on a log axis, a line at 1 and the noise band
    of ``threshold`` shaded."""
    left, row_h = 250, 20
    height = 30 + row_h * len(rows) + 40
    bounds = [v for r in rows for v in (r["ratio"], r["ci_low"], r["ci_high"]) if v and math.isfinite(v) and v > 0]
    bounds += [1 / (1 + threshold), 1 + threshold]
    lo, hi = (min(bounds + [1.0]), max(bounds + [1.0])) if bounds else (0.5, 2.0)
    scale = Scale(lo / 1.1, hi * 1.1, left, width - 14, log=True)
    bottom = 26 + row_h * len(rows)
    body = [f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']
    body += x_axis(scale, bottom, "ratio of medians, arm / baseline (log scale)", 22)
    # the noise band the verdicts are decided against: an interval inside it is `same`
    band_low, band_high = scale(1 / (1 + threshold)), scale(1 + threshold)
    body.append(f'<rect class="band" data-threshold="{threshold!r}" x="{band_low:.1f}" y="22" '
                f'width="{max(band_high - band_low, 1):.1f}" height="{bottom - 22}" fill="#ddd"/>')
    body.append(f'<line x1="{scale(1):.1f}" x2="{scale(1):.1f}" y1="22" y2="{bottom}" stroke="#000" stroke-dasharray="3,3"/>')
    for i, r in enumerate(rows):
        y = 26 + row_h * i + row_h / 2
        fill = VERDICT_FILL.get(r["verdict"], "#555")
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(r["label"])}</text>')
        if r["ci_low"] and r["ci_high"] and r["ci_low"] > 0:
            body.append(f'<line x1="{scale(r["ci_low"]):.1f}" x2="{scale(r["ci_high"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                        f'stroke="{fill}" stroke-width="2"/>')
        if r["ratio"] and r["ratio"] > 0:
            body.append(f'<rect class="ratio" data-value="{r["ratio"]!r}" x="{scale(r["ratio"]) - 4:.1f}" '
                        f'y="{y - 4:.1f}" width="8" height="8" fill="{fill}"/>')
    return document(width, height, body, title)


def fit_chart(title: str, xlabel: str, groups: list[dict], curve: list[tuple[float, float, float, float]],
              marks: list[dict], width: int = 540, height: int = 300) -> str:
    """Measured points per group, the fitted curve with its 95 % band, and marks (a
    held-out prediction's interval as an error bar, its measured median as a diamond)."""
    left, top, bottom = 62, 24, height - 40
    xs = [x for g in groups for x, _ in g["points"]] + [c[0] for c in curve] + [m["x"] for m in marks]
    ys = [y for g in groups for _, y in g["points"]] + [c[2] for c in curve] + [c[3] for c in curve]
    ys += [v for m in marks for v in (m.get("low", m["y"]), m.get("high", m["y"]))]
    sx = Scale(*padded(xs, zero=True), left, width - 12)
    sy = Scale(*padded(ys, zero=True), bottom, top)
    body = [f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']
    body += x_axis(sx, bottom, xlabel, top) + y_axis(sy, left, "ms", width - 12)
    if curve:
        band = [f"{sx(x):.1f},{sy(hi):.1f}" for x, _, _, hi in curve] + [f"{sx(x):.1f},{sy(lo):.1f}" for x, _, lo, _ in reversed(curve)]
        body.append(f'<polygon points="{" ".join(band)}" fill="#4269d0" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _, _ in curve)
        body.append(f'<polyline class="fit" points="{line}" fill="none" stroke="#4269d0" stroke-width="2"/>')
    for g in groups:
        for x, y in g["points"]:
            body.append(f'<circle data-x="{x!r}" data-value="{y!r}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" '
                        f'fill="{g["color"]}" fill-opacity="0.6"/>')
    for m in marks:
        x = sx(m["x"])
        if "low" in m:
            body.append(f'<line class="interval" x1="{x:.1f}" x2="{x:.1f}" y1="{sy(m["low"]):.1f}" y2="{sy(m["high"]):.1f}" '
                        f'stroke="{HELD_OUT}" stroke-width="2"/><circle class="predicted" data-value="{m["y"]!r}" '
                        f'cx="{x:.1f}" cy="{sy(m["y"]):.1f}" r="4" fill="white" stroke="{HELD_OUT}" stroke-width="2"/>')
        else:
            y = sy(m["y"])
            body.append(f'<polygon class="measured" data-value="{m["y"]!r}" points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} '
                        f'{x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}" fill="{HELD_OUT}"/>')
    legend_x = left + 8
    for i, g in enumerate(groups):
        body.append(f'<circle cx="{legend_x}" cy="{top + 8 + 13 * i}" r="4" fill="{g["color"]}"/>'
                    f'<text x="{legend_x + 8}" y="{top + 12 + 13 * i}">{escape(g["label"])}</text>')
    return document(width, height, body, title)
