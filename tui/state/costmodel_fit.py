"""What the cost-model screen (`M`) shows, computed from the rows the dashboard holds: no
Textual in here.

- :func:`fit_rows` fits :class:`CostModel` on the rows, as `vlmtop model SESSION --boot 50`
  does on the same rows (it runs in a worker thread: ~0.3 s or more);
- :func:`stage_fit_view` turns a fit and the selected stage into the plot's data (each arm's
  median against the stage's driver, the fitted curve and its band), the legend and the
  coefficient text, formatted by ``sessions.costmodel.text`` as `vlmtop model` prints them;
- :func:`refit_due` says when the rows changed enough to fit again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.costmodel import MIN_SETTINGS, CostModel, design_matrix
from vlmtop.sessions.costmodel.drivers import DRIVER_KNOBS, Point
from vlmtop.sessions.costmodel.text import coefficient_cells, num, quality_cells
from vlmtop.sessions.report.costmodel_section import AXES, drivers_at, point_label

N_BOOT = 50  # resamples: ~4x faster than vlmtop model's 200; the screen names the --boot that reproduces it
REFIT_EVERY = 10  # new measured samples before the fit is redone while a sweep runs
CURVE_POINTS = 80
# the stage table's rows -> the fitted stage (decode is fitted per step: one language-model call)
FITTED = {"vision_ms": "vision_ms", "projector_ms": "projector_ms", "prefill_ms": "prefill_ms",
          "decode_per_token_ms": "decode_per_step_ms", "decode_ms": "decode_per_step_ms", "other_ms": "other_ms"}
SHORT_DRIVER = {"image_tokens": "img tok", "prompt_tokens": "prompt", "context": "context"}
SWEEP_EXAMPLE = "vlmtop run --knob image_size=224x224,336x336,448x448"


def axis_max(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k at or above `value`: tick labels
    (it and its half) stay short, and the axis ends near the largest measurement."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value * (1 - 1e-9))


@dataclass
class PlotData:
    points: list[tuple[float, float]]  # each arm's (driver median, stage median), in legend order
    x_max: float  # the x axis runs 0..x_max (see axis_max)
    curve: list[tuple[float, float]] = field(default_factory=list)  # the fitted (x, y), x ascending
    band: list[tuple[float, float, float]] = field(default_factory=list)  # (x, low, high) of the 95 % band

    def y_max(self) -> float:
        ys = [y for _, y in self.points] + [y for _, y in self.curve] + [hi for _, _, hi in self.band]
        return axis_max(max((y for y in ys if math.isfinite(y)), default=0.0) * 1.05)


@dataclass(frozen=True)
class FitKey:
    """What a fit was made on: the number of points and the settings among them."""

    points: int
    settings: frozenset

    @classmethod
    def of(cls, points: list[Point]) -> FitKey:
        return cls(len(points), frozenset(p.setting for p in points))


def refit_due(fitted: FitKey | None, now: FitKey, at_rest: bool) -> bool:
    """Fit again when a setting appeared or went (that is what makes a fit possible), when
    REFIT_EVERY samples came, or, once rows stopped coming (a run ended, a replay paused), on
    any change: the figures at rest are then exactly those of `vlmtop model` on the same rows."""
    if fitted is None or fitted.settings != now.settings:
        return True
    if fitted.points == now.points:
        return False
    return at_rest or abs(now.points - fitted.points) >= REFIT_EVERY


@dataclass
class Fit:
    """A fit (or why there is none) and the points it was made on."""

    key: FitKey
    points: list[Point]
    model: CostModel | None = None
    reason: str | None = None


def fit_rows(points: list[Point], sweep: dict | None) -> Fit:
    """The cost model on these points, or the one-line reason it cannot be fitted. `sweep`:
    the session's `knobs` setting (name -> values), to say whether more settings are coming."""
    key = FitKey.of(points)
    if len(key.settings) < MIN_SETTINGS:
        return Fit(key, points, reason=too_few_settings(points, sweep))
    try:
        return Fit(key, points, CostModel(points, n_boot=N_BOOT))
    except VlmtopError as exc:
        return Fit(key, points, reason=str(exc))


def too_few_settings(points: list[Point], sweep: dict | None) -> str:
    drivers = [name for name in (sweep or {}) if name in DRIVER_KNOBS and len(sweep[name]) > 1]
    if not drivers:
        return (f"nothing to fit: every sample runs with the same token counts (no sweep); "
                f"sweep a knob to fit one, e.g. {SWEEP_EXAMPLE}")
    measured = len({p.setting for p in points})
    values = ", ".join(f"{name}: {len(sweep[name])} values" for name in drivers)
    return f"fit needs {MIN_SETTINGS} settings; {measured} measured so far (sweep {values})"


@dataclass(frozen=True)
class ArmPoint:
    marker_index: int
    label: str  # the arm's driver knobs, e.g. image_size=224x224
    n: int
    x: float  # median of the stage's driver over the arm's samples
    y: float  # median of the stage


@dataclass
class StageFitView:
    """Everything the screen draws for one stage."""

    stage: str  # the fitted stage, e.g. decode_per_step_ms
    label: str
    x_title: str
    driver: str
    arms: list[ArmPoint] = field(default_factory=list)
    plot: PlotData | None = None
    coefficients: list[tuple[str, str, str]] = field(default_factory=list)  # unit, value, CI (vlmtop model's text)
    quality: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None  # why there is no curve


def _stage_value(stage: str, p: Point) -> float:
    return p.decode_per_step_ms if stage == "decode_per_step_ms" else float(getattr(p, stage))


def arm_points(points: list[Point], stage: str, driver: str) -> list[ArmPoint]:
    """Each arm's median of `stage` and of its driver, in the driver's order (as the
    report's legend); an arm is its driver-knob values, as `vlmtop report` groups them."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        y = _stage_value(stage, p)
        if math.isfinite(y):
            groups.setdefault(point_label(p), []).append((float(getattr(p, driver)), y))
    medians = {label: (float(np.median([x for x, _ in values])), float(np.median([y for _, y in values])), len(values))
               for label, values in groups.items()}
    ordered = sorted(medians.items(), key=lambda item: (item[1][0], item[0]))
    return [ArmPoint(i, label, n, x, y) for i, (label, (x, y, n)) in enumerate(ordered)]


def stage_fit_view(selected: str, label: str, points: list[Point], fit: Fit | None) -> StageFitView:
    """The view of the stage the stage table selects (`selected`: its column)."""
    stage = FITTED.get(selected)
    if stage is None:
        return StageFitView(selected, label, "", "", reason=(
            f"{label} has no cost model of its own (it adds up the stages): "
            "↑/↓ selects vision, projector, prefill, decode or other"))
    driver, x_title = AXES[stage]
    view = StageFitView(stage, "decode/step" if stage == "decode_per_step_ms" else label, x_title, driver,
                     arm_points(points, stage, driver))
    if not view.arms:
        view.reason = f"no measured {view.label} values with token counts yet"
        return view
    x_max = axis_max(max(a.x for a in view.arms) * 1.05)
    view.plot = PlotData([(a.x, a.y) for a in view.arms], x_max)
    if fit is None:
        view.reason = "fitting…"
        return view
    if fit.model is None:
        view.reason = fit.reason
        return view
    stage_fit = fit.model.stage(stage)
    if stage_fit is None:
        view.reason = f"{view.label}: fewer than 3 measured values, nothing fitted"
        return view
    xs = np.linspace(0.0, x_max, CURVE_POINTS)
    design = design_matrix(stage_fit.terms, [drivers_at(fit.model, driver, float(x)) for x in xs])
    fitted, boots = design @ stage_fit.coef, design @ stage_fit.boot.T
    low, high = np.percentile(boots, (2.5, 97.5), axis=1)  # the band of the fitted median, as the report draws
    view.plot.curve = [(float(x), float(y)) for x, y in zip(xs, fitted)]
    view.plot.band = [(float(x), float(a), float(b)) for x, a, b in zip(xs, low, high)]
    as_printed = stage_fit.to_dict()  # the dict `vlmtop model --json` prints, formatted as its table
    view.coefficients = coefficient_cells(as_printed)
    view.quality = quality_cells(as_printed)
    view.notes = list(stage_fit.notes)
    return view


def short_label(label: str, labels: list[str]) -> str:
    """`image_size=224x224` -> `224x224` when every arm sweeps the same one knob."""
    names = {lbl.partition("=")[0] for lbl in labels}
    return label.partition("=")[2] if len(names) == 1 and all("=" in lbl and "," not in lbl for lbl in labels) else label


def legend_lines(view: StageFitView) -> tuple[str, list[tuple[str, ArmPoint]]]:
    """The legend's heading and (shown label, arm) per arm."""
    labels = [a.label for a in view.arms]
    names = {lbl.partition("=")[0] for lbl in labels}
    heading = next(iter(names)) if len(names) == 1 and labels and "=" in labels[0] else "arm"
    return heading, [(short_label(a.label, labels), a) for a in view.arms]


def x_text(value: float) -> str:
    return num(value, 4) if value < 1e4 else f"{value:.3g}"
