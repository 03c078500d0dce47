"""The report's cost-model section: one chart per fitted stage (measured points, the fitted
curve with its band, the held-out arm's prediction and measurement) and the tables."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from vlmtop.sessions.costmodel import CostModel, HeldOut, StageFit, design_matrix
from vlmtop.sessions.costmodel.drivers import DRIVER_KNOBS, Drivers, Point
from vlmtop.sessions.report import svg

# stage -> (the driver on the x axis, its axis title)
AXES = {
    "vision_ms": ("image_tokens", "image tokens"),
    "projector_ms": ("image_tokens", "image tokens"),
    "prefill_ms": ("prompt_tokens", "prompt tokens (image tokens included)"),
    "decode_per_step_ms": ("context", "mean context of a decode step, tokens"),
    "other_ms": ("prompt_tokens", "prompt tokens (decode steps at the typical count)"),
}
CURVE_POINTS = 60


def point_label(p: Point) -> str:
    knobs = [f"{k}={p.knobs[k]}" for k in DRIVER_KNOBS if k in p.knobs]
    return ",".join(knobs) or p.setting


def drivers_at(model: CostModel, driver: str, x: float) -> Drivers:
    """A typical sample whose `driver` is x (text tokens and steps as measured)."""
    text, steps = model.map.text_tokens, model.map.steps
    if driver == "image_tokens":
        return Drivers(x, text + x, steps, steps + model.map.first_token)
    prompt = x - 1 - (steps - 1) / 2.0 if driver == "context" else x
    return Drivers(max(prompt - text, 0.0), prompt, steps, steps + model.map.first_token)


def _value(fit: StageFit, p: Point) -> float:
    return p.decode_per_step_ms if fit.stage == "decode_per_step_ms" else float(getattr(p, fit.stage))


def _x(driver: str, p: Point | Drivers) -> float:
    return float(getattr(p, driver))


def chart(model: CostModel, fit: StageFit, held: HeldOut | None, held_points: list[Point]) -> str:
    driver, title = AXES[fit.stage]
    by_label: dict[str, list] = {}
    for p in model.points:
        y = _value(fit, p)
        if math.isfinite(y):
            by_label.setdefault(point_label(p), []).append((_x(driver, p), y))
    ordered = sorted(by_label.items(), key=lambda item: np.mean([x for x, _ in item[1]]))  # legend in x order
    groups = [{"label": label, "points": pts, "color": svg.color(i)} for i, (label, pts) in enumerate(ordered)]
    marks = []
    xmax = max(x for g in groups for x, _ in g["points"])
    if held:
        pts = [(_x(driver, p), _value(fit, p)) for p in held_points if math.isfinite(_value(fit, p))]
        groups.append({"label": f"held out: {held.knob}={held.value}", "points": pts, "color": svg.HELD_OUT})
        total = "decode_ms" if fit.stage == "decode_per_step_ms" else fit.stage
        row = next((r for r in held.rows if r["stage"] == total), None)
        if row and row["value"] is not None:
            per = held.drivers.steps if fit.stage == "decode_per_step_ms" and held.drivers.steps else 1
            x = _x(driver, held.drivers)
            marks.append({"x": x, "y": row["value"] / per, "low": row["low"] / per, "high": row["high"] / per})
            if row["measured"] is not None:
                marks.append({"x": x, "y": row["measured"] / per})
            xmax = max(xmax, x, *(x for x, _ in pts))
    xs = np.linspace(0, xmax * 1.05, CURVE_POINTS)
    grid = [drivers_at(model, driver, float(x)) for x in xs]
    design = design_matrix(fit.terms, grid)
    fitted, boots = design @ fit.coef, design @ fit.boot.T
    lo, hi = np.percentile(boots, (2.5, 97.5), axis=1)
    curve = [(float(x), float(y), float(a), float(b)) for x, y, a, b in zip(xs, fitted, lo, hi)]
    unit = " (ms per step)" if fit.stage == "decode_per_step_ms" else ""
    return f'<div class="fit" data-stage="{fit.stage}">' + svg.fit_chart(f"{fit.label}{unit}", title, groups, curve,
                                                                         marks) + "</div>"


def model_charts(model: CostModel, held: HeldOut | None, held_points: list[Point]) -> str:
    return "".join(chart(model, fit, held, held_points) for fit in model.stages)


def _n(value) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return "0" if abs(value) < 1e-6 else f"{value:.4g}"


def model_tables(model: CostModel, held: HeldOut | None) -> str:
    rows = []
    for fit in model.stages:
        d = fit.to_dict()
        for i, c in enumerate(fit.coefficients):
            extra = (f"<td>{_n(fit.r2)}</td><td>{_n(fit.residual_spread * 100)} %</td><td>{_n(fit.noise * 100)} %"
                     f"{'' if fit.noise_source == 'repeats' else ' †'}</td><td>{_n(d['residual_to_noise'])}</td>"
                     if i == 0 else "<td></td>" * 4)
            rows.append(f"<td>{escape(fit.label) if i == 0 else ''}</td><td>{escape(c.unit)}</td>"
                        f'<td data-value="{c.value!r}">{_n(c.value)}</td><td>{_n(c.ci_low)}..{_n(c.ci_high)}</td>{extra}')
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in ("stage", "term", "value", "95% CI", "R²", "residual", "noise",
                                                     "residual / noise")) + "</tr>"
    out = [f'<table class="coefficients">{head}' + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>",
           '<p class="note">Residual and noise: robust SDs relative to the value; noise is the spread of one sample id '
           "measured again under one setting († no repeats: the spread within a setting, inputs included). "
           "A ratio near 1: the model explains all the measurements can tell.</p>"]
    notes = [f"{fit.label}: {note}" for fit in model.stages for note in fit.notes]
    out += [f'<p class="note">{escape(n)}</p>' for n in notes]
    if held:
        rows = [f"<td>{escape(r['stage'].removesuffix('_ms'))}</td><td data-value=\"{r['value']!r}\">{_n(r['value'])}</td>"
                f"<td>{_n(r['low'])}..{_n(r['high'])}</td><td data-value=\"{r['measured']!r}\">{_n(r['measured'])}</td>"
                f"<td>{'-' if r['error'] is None else format(r['error'], '+.0%')}</td>"
                f"<td class=\"{'yes' if r['inside'] else 'no'}\">{'yes' if r['inside'] else 'no'}</td>" for r in held.rows]
        head = "<tr>" + "".join(f"<th>{h}</th>" for h in ("stage", "predicted ms", "95% interval", "measured median ms",
                                                         "error", "inside")) + "</tr>"
        out.append(f"<h3>Held out: {escape(held.knob)}={escape(str(held.value))}</h3><p class=\"note\">{held.n} samples; "
                   f"image tokens mapped from the knob {_n(held.drivers.image_tokens)}, measured "
                   f"{_n(held.measured_image_tokens)}. The interval is for the median of {held.n} samples.</p>"
                   f'<table class="holdout">{head}' + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>")
    return "".join(out)
