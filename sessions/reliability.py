"""How much of a stage's spread between samples is the sample, and how much is noise.

Per-sample prefill latency is used as a reward in training loops: a difference between
two samples is signal only if measuring the same sample again gives nearly the same
number. With sample ids that repeat in one session this module reports, per stage:

- the intraclass correlation ICC(1) (one-way random effects, Shrout & Fleiss 1979) of
  repeated measurements of the same sample id: the share of the variance that is
  between samples. 1: every difference between samples is real; 0: all of it is noise.
  With its 95 % interval from the F distribution.
- the test-retest spread: the within-sample standard deviation (ms), its size relative
  to the sample (the median per-sample CV), and the repeatability coefficient
  2.77 x SD (Bland & Altman): two measurements of one sample differ by less 95 % of
  the time.

A measurement unit is (arm, sample id): the same sample under two arms is two settings,
not a repeat. numpy and scipy only (no torch): the headless summary calls
:func:`reliability` directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

RELIABILITY_STAGES = ("vision_ms", "projector_ms", "prefill_ms", "decode_ms", "e2e_ms")
REPEATABILITY = 1.96 * math.sqrt(2.0)  # 2.77: the 95 % bound of a difference of two repeats
MIN_REPEATED_IDS = 2  # ids measured at least twice; fewer: nothing to say


@dataclass(frozen=True)
class VarianceComponents:
    """One-way random-effects decomposition of values into groups (unbalanced ANOVA)."""

    groups: int
    n: int
    between: float  # variance of the group means' true values (>= 0)
    within: float  # variance around a group's mean (mean square within)
    ms_between: float
    n0: float  # the effective group size of an unbalanced design

    @property
    def share(self) -> float:
        """between / (between + within): ICC(1), or the between-process share."""
        total = self.between + self.within
        return self.between / total if total > 0 else float("nan")


def variance_components(values: np.ndarray, groups: Sequence) -> VarianceComponents | None:
    """Between- and within-group variance of ``values``; None without 2 groups or no
    group of 2 values."""
    values = np.asarray(values, dtype=np.float64)
    _, index = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    sizes = np.bincount(index)
    k, n = sizes.size, values.size
    if k < 2 or n <= k:
        return None
    means = np.bincount(index, weights=values) / sizes
    grand = values.mean()
    ms_between = float((sizes * (means - grand) ** 2).sum() / (k - 1))
    ms_within = float(((values - means[index]) ** 2).sum() / (n - k))
    n0 = float((n - (sizes**2).sum() / n) / (k - 1))
    between = max(0.0, (ms_between - ms_within) / n0)
    return VarianceComponents(int(k), int(n), between, ms_within, ms_between, n0)


def icc_interval(vc: VarianceComponents, confidence: float = 0.95) -> tuple[float, float]:
    """The F-distribution interval of ICC(1) (Shrout & Fleiss), with n0 as the group size."""
    if vc.within <= 0:
        return (float("nan"), float("nan"))
    f_obs = vc.ms_between / vc.within
    df1, df2 = vc.groups - 1, vc.n - vc.groups
    tail = (1.0 - confidence) / 2.0
    f_low = f_obs / stats.f.ppf(1.0 - tail, df1, df2)
    f_high = f_obs * stats.f.ppf(1.0 - tail, df2, df1)
    return ((f_low - 1) / (f_low + vc.n0 - 1), (f_high - 1) / (f_high + vc.n0 - 1))


def _columns(rows_or_columns) -> dict[str, list]:
    """Columns from SampleRecords (measured rows only) or from a mapping of columns."""
    if isinstance(rows_or_columns, Mapping):
        cols = {key: list(value) for key, value in rows_or_columns.items()}
        n = len(cols.get("sample_id", ()))
        keep = [
            not (cols.get("is_warmup") or [False] * n)[i] and (cols.get("status") or ["ok"] * n)[i] == "ok"
            for i in range(n)
        ]
        return {key: [v for v, ok in zip(value, keep) if ok] for key, value in cols.items()}
    rows = [r for r in rows_or_columns if not r.is_warmup and r.status == "ok"]
    out = {"sample_id": [r.sample_id for r in rows], "arm": [r.arm for r in rows]}
    for stage in RELIABILITY_STAGES:
        out[stage] = [getattr(r, stage) for r in rows]
    return out


def reliability(rows_or_columns, stages: Sequence[str] = RELIABILITY_STAGES) -> dict:
    """Test-retest reliability of each stage over repeated sample ids; {} when no id repeats.

    ``rows_or_columns``: SampleRecords, or a mapping of columns (``sample_id``, optionally
    ``arm``, ``is_warmup``, ``status``, and the stage columns). The result is JSON-ready:
    ``{"samples", "measurements", "stages": {stage: {...}}, "line"}``, ``line`` being one
    sentence for people (prefill's figures).
    """
    cols = _columns(rows_or_columns)
    ids = cols.get("sample_id", [])
    arms = cols.get("arm") or [None] * len(ids)
    units = [f"{arm or ''}\x1f{sid}" if sid not in (None, "") else None for arm, sid in zip(arms, ids)]
    counts: dict = {}
    for unit in units:
        if unit is not None:
            counts[unit] = counts.get(unit, 0) + 1
    repeated = {unit for unit, count in counts.items() if count >= 2}
    if len(repeated) < MIN_REPEATED_IDS:
        return {}
    out_stages = {}
    for stage in stages:
        if stage not in cols:
            continue
        pairs = [(u, v) for u, v in zip(units, cols[stage]) if u in repeated and v is not None and math.isfinite(v)]
        figures = _stage_reliability([u for u, _ in pairs], np.array([v for _, v in pairs], dtype=np.float64))
        if figures:
            out_stages[stage] = figures
    if not out_stages:
        return {}
    used = [u for u in units if u in repeated]
    result = {"samples": len(repeated), "measurements": len(used), "stages": out_stages}
    result["line"] = reliability_line(result)
    return result


def _stage_reliability(units: list, values: np.ndarray) -> dict | None:
    vc = variance_components(values, units)
    if vc is None:
        return None
    low, high = icc_interval(vc)
    by_unit: dict = {}
    for unit, value in zip(units, values.tolist()):
        by_unit.setdefault(unit, []).append(value)
    cvs = [np.std(v, ddof=1) / np.mean(v) for v in by_unit.values() if len(v) >= 2 and np.mean(v) > 0]
    sd = math.sqrt(vc.within)

    def clean(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    # The point estimate is a variance share, floored at 0 (variance_components); the
    # F-interval's bounds go below 0 when samples differ less than their noise, so they are
    # floored alike, or an interval could exclude its own estimate.
    return {
        "icc": clean(vc.share),
        "icc_ci_low": clean(min(max(low, 0.0), 1.0)) if math.isfinite(low) else None,
        "icc_ci_high": clean(min(max(high, 0.0), 1.0)) if math.isfinite(high) else None,
        "retest_sd_ms": sd,
        "retest_cv": clean(float(np.median(cvs))) if cvs else None,
        "repeatability_ms": REPEATABILITY * sd,
        "between_sample_sd_ms": math.sqrt(vc.between),
        "samples": vc.groups,
        "measurements": vc.n,
    }


def reliability_line(result: dict, stage: str = "prefill_ms") -> str:
    """One line for people: ``reliability of prefill over 16 samples x 3: ICC 0.93 [0.85,
    0.97] (93% of the spread between samples is the sample); test-retest SD 0.05 ms (CV 2.1%)``."""
    if not result:
        return ""
    if stage not in result["stages"]:
        stage = next(iter(result["stages"]))
    f = result["stages"][stage]
    name = stage.removesuffix("_ms")
    repeats = f["measurements"] / max(1, f["samples"])
    icc = "ICC -" if f["icc"] is None else f"ICC {f['icc']:.2f}"
    if f["icc_ci_low"] is not None and f["icc_ci_high"] is not None:
        icc += f" [{f['icc_ci_low']:.2f}, {f['icc_ci_high']:.2f}]"
    share = "" if f["icc"] is None else f" ({f['icc']:.0%} of its spread is the sample, the rest noise)"
    cv = "" if f["retest_cv"] is None else f" (CV {f['retest_cv']:.1%})"
    return (
        f"reliability of {name} over {f['samples']} samples x {repeats:.3g} repeats: {icc}{share}; "
        f"test-retest SD {f['retest_sd_ms']:.3g} ms{cv}, repeats differ by < {f['repeatability_ms']:.3g} ms 95% of the time"
    )
