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

from vlmtop.core.stage_table import RELIABILITY
from vlmtop.sessions.records import SampleStatus, is_measured, measured_mask

RELIABILITY_STAGES = tuple(stage.column for stage in RELIABILITY)  # from core/stage_table.py
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
    _, index = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    return components_of(values, index)


def components_of(values: np.ndarray, index: np.ndarray) -> VarianceComponents | None:
    """:func:`variance_components` with the groups given as indices 0..k-1 (every one used):
    the group order is that of the sums, so callers that need the exact figures of
    :func:`variance_components` number the groups in the sorted order of their names."""
    values = np.asarray(values, dtype=np.float64)
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


@dataclass
class _Measured:
    """The measured samples: each one's measurement unit and the stage arrays (float64, NaN
    where absent)."""

    unit: np.ndarray  # index into the units' sorted names; -1: no sample id
    units: int
    stages: dict[str, np.ndarray]


def _measured(rows_or_columns, stages: Sequence[str]) -> _Measured:
    """From SampleRecords (measured rows kept) or a mapping of columns (``is_warmup`` and
    ``status`` filter when given). Everything stays a numpy array: O(n), no per-sample object."""
    if isinstance(rows_or_columns, Mapping):
        cols = rows_or_columns
        ids = cols.get("sample_id")
        n = 0 if ids is None else len(ids)
        # a filter column not given filters nothing (the caller kept measured samples)
        warm, status = cols.get("is_warmup"), cols.get("status")
        keep = measured_mask(np.zeros(n, dtype=bool) if warm is None or not len(warm) else warm,
                             np.full(n, SampleStatus.OK, dtype=object) if status is None or not len(status) else status)
        arms = cols.get("arm")
        values = {stage: _kept(cols[stage], keep) for stage in stages if stage in cols}
    else:
        rows = [r for r in rows_or_columns if is_measured(r)]
        n, keep = len(rows), np.ones(len(rows), dtype=bool)
        ids, arms = [r.sample_id for r in rows], [r.arm for r in rows]
        values = {stage: np.array([getattr(r, stage) for r in rows], dtype=np.float64) for stage in stages}
    # One dict look-up a sample: (arm, id) -> unit. None and "" are one arm ("no arm"), as
    # the unit's name has always written them; a sample without an id is in no unit (-1).
    table: dict = {}
    pairs = zip(arms if arms is not None else (None,) * n, ids if n else ())
    unit = np.fromiter((table.setdefault((arm or "", sid), len(table)) if sid not in (None, "") else -1
                        for arm, sid in pairs), dtype=np.int64, count=n)[keep]
    # Units are numbered in the sorted order of their names ("arm\x1fid"), the order the
    # statistics have always summed the groups in: the same figures to the last bit.
    names = [f"{arm}\x1f{sid}" for arm, sid in table]
    _, sorted_index = np.unique(np.asarray(names, dtype=object).astype(str), return_inverse=True)
    sorted_index = np.append(sorted_index.reshape(-1), -1)  # unit -1 stays -1
    units = int(sorted_index.max()) + 1 if table else 0
    return _Measured(sorted_index[unit], units, values)


def _kept(column, keep: np.ndarray) -> np.ndarray:
    values = np.asarray(column, dtype=np.float64)
    return values if keep.all() else values[keep]  # no copy of a measured-only column


def reliability(rows_or_columns, stages: Sequence[str] = RELIABILITY_STAGES) -> dict:
    """Test-retest reliability of each stage over repeated sample ids; {} when no id repeats.

    ``rows_or_columns``: SampleRecords, or a mapping of columns (``sample_id``, optionally
    ``arm``, ``is_warmup``, ``status``, and the stage columns; lists or numpy arrays). The
    result is JSON-ready: ``{"samples", "measurements", "stages": {stage: {...}}, "line"}``,
    ``line`` being one sentence for people (prefill's figures).
    """
    data = _measured(rows_or_columns, stages)
    has_unit = data.unit >= 0
    counts = np.bincount(data.unit[has_unit], minlength=data.units)
    repeated = counts >= 2
    if int(repeated.sum()) < MIN_REPEATED_IDS:
        return {}
    in_repeated = has_unit & repeated[np.where(has_unit, data.unit, 0)]
    out_stages = {}
    for stage in stages:
        if stage not in data.stages:
            continue
        values = data.stages[stage]
        use = in_repeated & np.isfinite(values)
        figures = _stage_reliability(data.unit[use], values[use])
        if figures:
            out_stages[stage] = figures
    if not out_stages:
        return {}
    result = {"samples": int(repeated.sum()), "measurements": int(in_repeated.sum()), "stages": out_stages}
    result["line"] = reliability_line(result)
    return result


def _stage_reliability(units: np.ndarray, values: np.ndarray) -> dict | None:
    if units.size == 0:
        return None
    # The units present, renumbered 0..k-1 in the same (sorted names') order, without a sort.
    present = np.bincount(units) > 0
    index = (np.cumsum(present) - 1)[units]
    vc = components_of(values, index)
    if vc is None:
        return None
    low, high = icc_interval(vc)
    cvs = _unit_cvs(values, index)
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
        "retest_cv": clean(float(np.median(cvs))) if cvs.size else None,
        "repeatability_ms": REPEATABILITY * sd,
        "between_sample_sd_ms": math.sqrt(vc.between),
        "samples": vc.groups,
        "measurements": vc.n,
    }


def _unit_cvs(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Each unit's CV (SD / mean of its repeats; units of 2 or more with a positive mean).
    Units of one size are one (units x repeats) matrix, reduced along its rows: exactly
    np.std and np.mean of each unit's values in recorded order, without a loop per unit."""
    order = np.argsort(index, kind="stable")  # each unit's values together, in recorded order
    sizes = np.bincount(index)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    cvs = []
    for size in np.unique(sizes).tolist():
        if size < 2:
            continue
        block = values[order[starts[sizes == size][:, None] + np.arange(size)]]
        mean = block.mean(axis=1)
        cv = block.std(axis=1, ddof=1) / np.where(mean > 0, mean, 1.0)
        cvs.append(cv[mean > 0])
    return np.concatenate(cvs) if cvs else np.empty(0)


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
