"""Outliers and warm-up transients of a latency series: classified and flagged, never dropped.

numpy only. Split from :mod:`vlmtop.sessions.analysis.stats` (which re-exports every name here): the
summaries there describe a series, the rules here label parts of it. Two rules from asv
and criterion.rs hold: outliers are classified, never dropped; a warm-up transient is
flagged, never removed. What to do with them is the caller's (and the user's) decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Iterable

import numpy as np

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal data


def _as_array(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """``values`` as a 1-D float64 array, None as NaN: every position kept."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False).ravel()
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


# --- outliers ---------------------------------------------------------------------------------

# Labels of classify_outliers, criterion.rs' classes. Plain strings: they go to JSON as is.
LOW_SEVERE = "low_severe"
LOW_MILD = "low_mild"
NORMAL = "normal"
HIGH_MILD = "high_mild"
HIGH_SEVERE = "high_severe"
MISSING = "missing"
OUTLIER_LABELS = (LOW_SEVERE, LOW_MILD, NORMAL, HIGH_MILD, HIGH_SEVERE, MISSING)

MILD_FENCE = 1.5  # IQRs beyond a quartile: Tukey's "outside"
SEVERE_FENCE = 3.0  # Tukey's "far out"


@dataclass(frozen=True)
class Fences:
    """Tukey's fences: ``q1 - 3 IQR < q1 - 1.5 IQR <= q3 + 1.5 IQR < q3 + 3 IQR``."""

    low_severe: float
    low_mild: float
    high_mild: float
    high_severe: float


def tukey_fences(values: Iterable[float | None] | np.ndarray) -> Fences:
    arr = _finite_values(values)
    if arr.size == 0:
        nan = float("nan")
        return Fences(nan, nan, nan, nan)
    q1, q3 = np.percentile(arr, (25.0, 75.0))
    iqr = q3 - q1
    return Fences(
        low_severe=float(q1 - SEVERE_FENCE * iqr),
        low_mild=float(q1 - MILD_FENCE * iqr),
        high_mild=float(q3 + MILD_FENCE * iqr),
        high_severe=float(q3 + SEVERE_FENCE * iqr),
    )


def classify_outliers(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """One label per input value, in input order: an array of :data:`OUTLIER_LABELS`.

    A value beyond a fence is an outlier of that class (strictly beyond: a value on the
    fence is normal); None / NaN are ``missing``. Nothing is dropped: the labels are there
    to be counted and shown beside the statistics, which keep every value.
    """
    arr = _as_array(values)
    labels = np.full(arr.size, NORMAL, dtype=object)
    finite = np.isfinite(arr)
    labels[~finite] = MISSING
    if not finite.any():
        return labels
    f = tukey_fences(arr[finite])
    with np.errstate(invalid="ignore"):  # NaN compares False: missing stays missing
        labels[arr < f.low_mild] = LOW_MILD
        labels[arr < f.low_severe] = LOW_SEVERE
        labels[arr > f.high_mild] = HIGH_MILD
        labels[arr > f.high_severe] = HIGH_SEVERE
    return labels


def count_outliers(labels: np.ndarray | Sequence[str]) -> dict[str, int]:
    """How many values carry each label (every label present, zeros included)."""
    arr = np.asarray(labels, dtype=object)
    return {label: int(np.count_nonzero(arr == label)) for label in OUTLIER_LABELS}


# --- warm-up transients ------------------------------------------------------------------------

TRANSIENT_K = 4.0  # band half-width in robust sigmas
TRANSIENT_REL_FLOOR = 0.01  # the sigma is never taken below 1 % of the median
# With r reference values the sigma is taken at least (0.5 / r) x the median: the MAD of a
# handful of values is often far below the real spread (of 3 values, one deviation is 0),
# so in short series only a large excursion (> 4 x 0.5 / r, e.g. 67 % at n = 5) is a
# transient.
SMALL_REFERENCE_FLOOR = 0.5
TRANSIENT_WINDOW = 5  # settling must hold for most of this many samples
MIN_TRANSIENT_SERIES = 4  # below this there is no remainder to compare against


def detect_transient(
    values: Sequence[float | None] | np.ndarray,
    *,
    k: float = TRANSIENT_K,
    rel_floor: float = TRANSIENT_REL_FLOOR,
    window: int = TRANSIENT_WINDOW,
) -> int:
    """How many leading samples of ``values`` (in seq order) come before the series settles.

    The rule:

    1. Reference: the second half of the series (``values[n // 2:]``) is taken as settled.
       Its median ``m`` and robust sigma
       ``s = max(1.4826 MAD, rel_floor * |m|, (0.5 / len(reference)) * |m|)`` define the
       band ``|x - m| <= k s`` (k = 4: a settled lognormal sample with CV 10 % falls
       outside it about once in a thousand). The 1 % floor keeps a quantised timer
       (MAD = 0) from calling every sample unsettled; the size-dependent one keeps short
       series, whose MAD is unreliable, from flagging noise (at n = 5 only an excursion
       beyond 67 % of the median counts).
    2. Settling point: the first index ``i`` such that ``values[i]`` is inside the band and
       more than half of ``values[i : i + window]`` are too. Requiring a majority lets one
       noisy settled sample (an outlier) not extend the transient, and one lucky
       transient sample not end it.
    3. The answer is that index: 0 when the first sample is already settled.

    The band is two-sided: a series that starts fast and then settles slower (clocks
    dropping after a boost) is also unsettled at first. A transient longer than half the
    series cannot be told from a level shift by this rule and is not reported as one;
    series shorter than 4 finite values return 0. None / NaN (error samples) are skipped:
    they neither settle nor unsettle, and the returned count is in positions of
    ``values``. The samples are flagged by the caller, never dropped.
    """
    arr = _as_array(values)
    positions = np.flatnonzero(np.isfinite(arr))  # where each finite value sits in `values`
    x = arr[positions]
    n = x.size
    if n < MIN_TRANSIENT_SERIES:
        return 0
    reference = x[n // 2 :]
    m = float(np.median(reference))
    floor = max(rel_floor, SMALL_REFERENCE_FLOOR / reference.size)
    s = max(MAD_TO_SIGMA * float(np.median(np.abs(reference - m))), floor * abs(m))
    if s == 0:  # a reference of exact zeros: anything else is unsettled
        s = np.finfo(np.float64).tiny
    inside = np.abs(x - m) <= k * s
    # Inside-counts of every forward window x[i : i + window], by a cumulative sum.
    csum = np.concatenate(([0], np.cumsum(inside)))
    ends = np.minimum(np.arange(n) + window, n)
    window_len = ends - np.arange(n)
    window_inside = csum[ends] - csum[:n]
    settled = inside & (2 * window_inside > window_len)
    if not settled.any():
        return 0
    first = int(np.argmax(settled))
    if first > n // 2:
        # Not settled before the reference itself: a level shift or a drift, not a
        # transient this rule can separate.
        return 0
    return int(positions[first])


def _finite_values(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """The finite values as an array (stats.as_values, which this module cannot import:
    stats builds on it)."""
    arr = _as_array(values)
    return arr[np.isfinite(arr)]
