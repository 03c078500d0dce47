"""Per-stage cost models fitted from measured samples, their predictions and their test.

numpy and scipy only (no torch): it reads what sessions recorded.

Each stage is a sum of terms in the token counts that drive it (``costmodel.drivers``):

- vision: ``a + b * image_tokens [+ c * image_tokens^2]`` (the encoder's attention);
- projector: ``a + b * image_tokens``;
- prefill: ``a + b * prompt_tokens [+ c * prompt_tokens^2]`` (attention is quadratic; the
  square is fitted only with at least 4 settings, since 3 settings fit any parabola exactly);
- decode, per step: ``a + b * context`` (the mean context of the sample's steps; for a
  linear model the mean step cost is exactly the cost at the mean context);
- other (generate()'s own work): ``a + b * prompt_tokens + c * steps``.

A term whose driver does not vary in the data is dropped (and said). Fits are robust:
``scipy.optimize.least_squares``, soft-L1 then Cauchy loss (see :func:`robust_fit`), on
residuals relative to the sample's setting median (timing noise grows with the time
measured, and contention spikes are outliers to discount, not to chase), with every cost
term bounded at >= 0 (a stage does not get cheaper with more tokens). Theil-Sen would do for one regressor but not for
the quadratic or the two-driver `other`; one engine keeps every stage comparable.

Uncertainty comes from a bootstrap over sample ids: a resample takes every measurement of
each drawn sample (all its arms), so the pairing of arms is kept. Coefficient CIs are its
percentiles. A prediction's interval is for the MEDIAN a run of n samples would measure:
each replicate's prediction times (1 + the median of n relative residuals drawn from the
fit), so it holds both the model's uncertainty and the noise of an arm's median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.analysis.stats import json_float
from vlmtop.sessions.costmodel.drivers import DriverMap, Drivers, Point, check_poolable

N_BOOT = 200  # resamples; the 2.5/97.5 % points move by a few % of the interval between seeds
SEED = 0
CONFIDENCE = 0.95
MIN_SETTINGS = 2  # distinct settings needed to fit a slope
QUADRATIC_SETTINGS = 4
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Term:
    name: str  # the driver, or "intercept"
    power: int
    scale: float  # the driver is divided by this before fitting (1000: per 1k tokens)
    unit: str


@dataclass(frozen=True)
class StageSpec:
    stage: str  # the column (decode: per step)
    label: str
    terms: tuple[Term, ...]
    total: str  # the additive column this stage predicts


def _tokens(driver: str, noun: str, unit: str = "ms") -> tuple[Term, Term]:
    return (Term(driver, 1, 1000.0, f"{unit} per 1k {noun}"), Term(driver, 2, 1000.0, f"{unit} per (1k {noun})^2"))


SPECS = (
    # The vision encoder attends over all patches of an image (Qwen2-VL: 4 per image token),
    # so it may curve like prefill; the square follows the same 4-settings rule.
    StageSpec("vision_ms", "vision", (Term("intercept", 0, 1, "ms"), *_tokens("image_tokens", "image tokens")), "vision_ms"),
    StageSpec("projector_ms", "projector", (Term("intercept", 0, 1, "ms"), _tokens("image_tokens", "image tokens")[0]),
              "projector_ms"),
    StageSpec("prefill_ms", "prefill", (Term("intercept", 0, 1, "ms"), *_tokens("prompt_tokens", "prompt tokens")),
              "prefill_ms"),
    StageSpec("decode_per_step_ms", "decode/step",
              (Term("intercept", 0, 1, "ms per step"), _tokens("context", "context tokens", "ms per step")[0]), "decode_ms"),
    StageSpec("other_ms", "other", (Term("intercept", 0, 1, "ms"), _tokens("prompt_tokens", "prompt tokens")[0],
                                    Term("steps", 1, 1.0, "ms per decode step")), "other_ms"),
)
PREDICTED = ("vision_ms", "projector_ms", "prefill_ms", "decode_ms", "other_ms", "e2e_ms")


def _value(p: Point | Drivers, name: str) -> float:
    if name == "decode_per_step_ms":
        return p.decode_per_step_ms
    return float(getattr(p, name))


def design_matrix(terms: tuple[Term, ...], rows: list) -> np.ndarray:
    cols = [np.ones(len(rows)) if t.power == 0 else np.array([_value(r, t.name) / t.scale for r in rows]) ** t.power
            for t in terms]
    return np.column_stack(cols) if cols else np.empty((len(rows), 0))


def robust_sd(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the SD for normal data, blind to spikes."""
    values = values[np.isfinite(values)]
    return float(MAD_TO_SD * np.median(np.abs(values - np.median(values)))) if values.size else float("nan")


def robust_fit(x: np.ndarray, y: np.ndarray, scale: np.ndarray, f_scale: float | None = None,
               x0: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Coefficients of a robust fit of y ~ x @ b on residuals relative to `scale`, with
    b[1:] >= 0; also the residual scale used (then reused by the bootstrap's refits).

    Without f_scale: a least-squares start, a convex soft-L1 fit from it, the residual
    scale re-estimated from that fit, then a Cauchy fit. Cauchy's influence falls back to
    zero for far residuals: contention spikes are one-sided (a stage is only ever slowed),
    and a loss that still pulls on them (soft-L1, Huber) is biased upward by them. Given
    f_scale (a bootstrap refit near a known solution) only the Cauchy step runs.
    """
    from scipy.optimize import least_squares

    lower = np.r_[-np.inf, np.zeros(x.shape[1] - 1)]
    bounds = (lower, np.full(x.shape[1], np.inf))

    def fit(start, loss, scale_):
        return least_squares(lambda b: (x @ b - y) / scale, np.clip(start, lower, np.inf), loss=loss,
                             f_scale=scale_, bounds=bounds, method="trf").x

    if f_scale is None:
        start, *_ = np.linalg.lstsq(x / scale[:, None], y / scale, rcond=None)
        start = fit(start, "soft_l1", max(robust_sd((y - x @ np.clip(start, lower, np.inf)) / scale), 0.01))
        # Floored at 0.5 %: a scale at the clock's resolution would call every point an outlier.
        f_scale = max(robust_sd((y - x @ start) / scale), 0.005)
        x0 = start
    elif x0 is None:
        x0, *_ = np.linalg.lstsq(x / scale[:, None], y / scale, rcond=None)
    return fit(x0, "cauchy", f_scale), f_scale


@dataclass
class Coefficient:
    term: str
    unit: str
    value: float
    ci_low: float
    ci_high: float


@dataclass
class StageFit:
    stage: str
    label: str
    n: int  # samples fitted
    settings: int  # distinct settings among them
    terms: tuple[Term, ...]
    coef: np.ndarray
    boot: np.ndarray  # (n_boot, terms)
    coefficients: list[Coefficient]
    r2: float
    residual_spread: float  # robust SD of residuals, relative to the fitted value
    noise: float  # robust SD of repeated measurements, relative
    noise_source: str  # repeats | within-setting
    residuals: dict[tuple[str, int], float]  # (session, seq) -> relative residual
    notes: list[str] = field(default_factory=list)

    def curve(self, drivers: list, coef: np.ndarray | None = None) -> np.ndarray:
        return design_matrix(self.terms, drivers) @ (self.coef if coef is None else coef)

    def to_dict(self) -> dict:
        return {
            "stage": self.stage, "label": self.label, "n": self.n, "settings": self.settings,
            "coefficients": [_clean(c.__dict__) for c in self.coefficients], "r2": json_float(self.r2),
            "residual_spread": json_float(self.residual_spread), "noise": json_float(self.noise),
            "noise_source": self.noise_source,
            "residual_to_noise": json_float(self.residual_spread / self.noise if self.noise else float("nan")),
            "notes": self.notes,
        }


def _clean(d: dict) -> dict:
    return {k: (json_float(v) if isinstance(v, float) else v) for k, v in d.items()}


def _noise(points: list[Point], y: np.ndarray) -> tuple[float, str]:
    """Relative spread of one sample measured again under the same setting; without
    repeats, the spread within each setting (which also holds differences between inputs)."""
    groups: dict = {}
    for p, value in zip(points, y):
        groups.setdefault((p.setting, p.sample_id), []).append(value)
    repeats = [np.array(g) for g in groups.values() if len(g) >= 2]
    source = "repeats"
    if not repeats:
        by_setting: dict = {}
        for p, value in zip(points, y):
            by_setting.setdefault(p.setting, []).append(value)
        repeats, source = [np.array(g) for g in by_setting.values() if len(g) >= 2], "within-setting"
    deviations = [(g - np.median(g)) / np.median(g) for g in repeats if np.median(g) > 0]
    return (robust_sd(np.concatenate(deviations)) if deviations else float("nan")), source


class CostModel:
    """Every stage's fit on one set of points, with the driver map learned from them."""

    def __init__(self, points: list[Point], *, n_boot: int = N_BOOT, seed: int = SEED):
        if not points:
            raise VlmtopError("no measured samples with token counts to fit a cost model on")
        self.fixed = check_poolable(points)
        self.points = points
        self.map = DriverMap(points, self.fixed)
        self.settings = len({p.setting for p in points})
        if self.settings < MIN_SETTINGS:
            raise VlmtopError(
                f"all {len(points)} samples ran with the same token counts ({points[0].setting}): a cost model needs "
                f"at least {MIN_SETTINGS} settings; sweep a knob, e.g. vlmtop run --knob image_size=224x224,336x336,448x448"
            )
        self.n_boot, self.seed = n_boot, seed
        self.typical_n = int(np.median(np.unique([p.setting for p in points], return_counts=True)[1]))
        self.stages = [fit for spec in SPECS if (fit := self._fit(spec)) is not None]

    def _fit(self, spec: StageSpec) -> StageFit | None:
        pts = [p for p in self.points if math.isfinite(_value(p, spec.stage)) and not (spec.stage == "decode_per_step_ms"
                                                                                      and not p.steps)]
        if len(pts) < 3:
            return None
        y = np.array([_value(p, spec.stage) for p in pts])
        settings = len({p.setting for p in pts})
        terms, notes = [], []
        for term in spec.terms:
            if term.power == 0:
                terms.append(term)
            elif np.ptp([_value(p, term.name) for p in pts]) == 0:
                notes.append(f"{term.name} does not vary in the data: its term is left out")
            elif term.power == 2 and settings < QUADRATIC_SETTINGS:
                notes.append(f"no {term.name}^2 term: it needs {QUADRATIC_SETTINGS} settings, the data has {settings}")
            else:
                terms.append(term)
        terms = tuple(terms)
        medians: dict = {}
        for p, value in zip(pts, y):
            medians.setdefault(p.setting, []).append(value)
        floor = max(1e-3, 0.01 * float(np.median(np.abs(y))))
        scale = np.array([max(abs(float(np.median(medians[p.setting]))), floor) for p in pts])
        x = design_matrix(terms, pts)
        coef, f_scale = robust_fit(x, y, scale)
        boot = self._bootstrap(pts, x, y, scale, f_scale, coef)
        tail = (1 - CONFIDENCE) / 2 * 100
        lo, hi = np.percentile(boot, (tail, 100 - tail), axis=0)
        fitted = x @ coef
        relative = (y - fitted) / np.maximum(np.abs(fitted), floor)
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        r2 = 1 - float(np.sum((y - fitted) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
        noise, source = _noise(pts, y)
        coefficients = [Coefficient(t.name if t.power < 2 else f"{t.name}^2", t.unit, float(c), float(a), float(b))
                        for t, c, a, b in zip(terms, coef, lo, hi)]
        residuals = {(p.session_id, p.seq): float(r) for p, r in zip(pts, relative)}
        return StageFit(spec.stage, spec.label, len(pts), settings, terms, coef, boot, coefficients, r2,
                        robust_sd(relative), noise, source, residuals, notes)

    def _bootstrap(self, pts, x, y, scale, f_scale, coef) -> np.ndarray:
        """Refits on resampled sample ids, every measurement of a drawn id kept together."""
        rng = np.random.default_rng(self.seed)
        ids = sorted({p.sample_id for p in pts})
        rows_of = {i: [] for i in ids}
        for index, p in enumerate(pts):
            rows_of[p.sample_id].append(index)
        out = np.empty((self.n_boot, x.shape[1]))
        for b in range(self.n_boot):
            take = np.concatenate([rows_of[ids[k]] for k in rng.integers(0, len(ids), len(ids))])
            out[b] = robust_fit(x[take], y[take], scale[take], f_scale, coef)[0]
        return out

    def stage(self, stage: str) -> StageFit | None:
        return next((s for s in self.stages if s.stage == stage), None)

    def to_dict(self) -> dict:
        return {"samples": len(self.points), "settings": self.settings, "fixed_knobs": self.fixed,
                "image_tokens_map": self.map.describe(), "stages": [s.to_dict() for s in self.stages]}

    # -- prediction -------------------------------------------------------------------------

    def predict(self, drivers: Drivers, n: int | None = None) -> list[Prediction]:
        """Each predicted stage's median over a run of n samples (default: the typical arm
        size of the fit), and e2e as their sum, with intervals (see the module doc)."""
        n = n or self.typical_n
        rng = np.random.default_rng(self.seed + 1)
        keys = [(p.session_id, p.seq) for p in self.points]
        draws = rng.integers(0, len(keys), (self.n_boot, n))
        per_stage, points = {}, {}
        for fit in self.stages:
            factor = drivers.steps if fit.stage == "decode_per_step_ms" else 1.0
            total = _total(fit.stage)
            points[total] = float(fit.curve([drivers])[0]) * factor
            boots = (design_matrix(fit.terms, [drivers]) @ fit.boot.T)[0] * factor
            rel = np.array([fit.residuals.get(k, np.nan) for k in keys])
            per_stage[total] = boots[:, None] * (1 + np.nan_to_num(rel[draws]))  # (n_boot, n)
        out = [_interval(stage, points[stage], np.median(per_stage[stage], axis=1)) for stage in PREDICTED[:-1]
               if stage in points]
        if all(stage in points for stage in ("vision_ms", "prefill_ms", "decode_ms")):
            e2e = sum(per_stage.values())
            out.append(_interval("e2e_ms", sum(points.values()), np.median(e2e, axis=1)))
        return out


def _total(stage: str) -> str:
    return next(spec.total for spec in SPECS if spec.stage == stage)


@dataclass
class Prediction:
    stage: str
    value: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return _clean(dict(self.__dict__))


def _interval(stage: str, value: float, samples: np.ndarray) -> Prediction:
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(samples, (tail, 100 - tail))
    # The replicates can lie all on one side of the full fit: a cost term held at its bound
    # (>= 0) in the fit comes out above it in many resamples, and skewed residuals shift the
    # median factor. A percentile interval then misses its own prediction (seen on a loaded
    # machine); it is widened to hold it, the conservative way to keep both honest.
    return Prediction(stage, value, float(min(lo, value)), float(max(hi, value)))


@dataclass
class HeldOut:
    """An arm left out of the fit, predicted from its knob value, against what it measured."""

    knob: str
    value: object
    n: int
    drivers: Drivers
    measured_image_tokens: float
    rows: list[dict]  # stage, predicted, low, high, measured, inside, error

    def to_dict(self) -> dict:
        return {"knob": self.knob, "value": self.value, "n": self.n, "drivers": self.drivers.to_dict(),
                "measured_image_tokens": self.measured_image_tokens, "stages": self.rows}


def holdout(points: list[Point], name: str, value, *, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[CostModel, HeldOut]:
    """Fit without the arm where knob `name` == `value`; predict that arm and compare."""
    from vlmtop.sessions.costmodel.drivers import natural, select

    held, rest = select(points, name, value)
    if not held:
        present = sorted({str(p.knobs.get(name)) for p in points if name in p.knobs}, key=natural)
        raise VlmtopError(f"no measured samples with {name}={value} to hold out"
                          + (f"; the samples have {name}={', '.join(present)}" if present else f"; no sample set {name}"))
    model = CostModel(rest, n_boot=n_boot, seed=seed)
    drivers, _ = model.map.drivers({name: value})
    rows = []
    for pred in model.predict(drivers, n=len(held)):
        measured = float(np.nanmedian([getattr(p, pred.stage) for p in held]))
        rows.append({**pred.to_dict(), "measured": json_float(measured),
                     "inside": bool(pred.low <= measured <= pred.high),
                     "error": json_float(pred.value / measured - 1 if measured else float("nan"))})
    tokens = float(np.median([p.image_tokens for p in held]))
    return model, HeldOut(name, value, len(held), drivers, tokens, rows)
