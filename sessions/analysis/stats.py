"""Descriptive statistics of stage latencies: summaries, a streaming window, outliers, warm-up.

numpy only. Everything here takes latencies as they come from the database: a sequence
that may hold ``None`` (a stage the sample did not have) or NaN (a NULL column). Such
values are counted as missing and left out; they never make a statistic NaN unless
nothing is left.

Two rules, from asv and criterion.rs, hold throughout: outliers are classified, never
dropped; a warm-up transient is flagged, never removed. What to do with them is the
caller's (and the user's) decision, made visibly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vlmtop.sessions.analysis.outliers import MAD_TO_SIGMA  # 1 / Phi^-1(3/4): MAD -> sigma of normal data

# Percentiles every summary carries: the dashboard's columns.
DEFAULT_PERCENTILES = (50.0, 90.0, 99.0)
# Upper bound on histogram bins: a terminal panel is at most ~80 cells wide, and more bins
# than that only shows sampling noise.
MAX_BINS = 40


def as_array(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """``values`` as a 1-D float64 array, None as NaN: every position kept."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False).ravel()
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def as_values(values: Iterable[float | None] | np.ndarray) -> np.ndarray:
    """A 1-D float64 array of the finite values in ``values`` (None, NaN and inf dropped)."""
    arr = as_array(values)
    return arr[np.isfinite(arr)]


# --- summaries ---------------------------------------------------------------------------------


def percentiles(values: Iterable[float | None] | np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Percentiles ``qs`` (0-100, linear interpolation as ``np.percentile``); NaN if empty."""
    arr = as_values(values)
    if arr.size == 0:
        return np.full(len(qs), np.nan)
    return np.percentile(arr, qs)


def mad(values: Iterable[float | None] | np.ndarray) -> float:
    """Median absolute deviation from the median (raw, not scaled to a sigma); NaN if empty."""
    arr = as_values(values)
    if arr.size == 0:
        return float("nan")
    return float(np.median(np.abs(arr - np.median(arr))))


@dataclass(frozen=True)
class Histogram:
    """Counts of values in bins: ``counts[i]`` values lie in ``[edges[i], edges[i+1])``.

    The last bin is closed on both sides, as in ``np.histogram``.
    """

    edges: np.ndarray  # len(counts) + 1 ascending bin edges
    counts: np.ndarray  # int64 counts per bin

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict:
        return {"edges": self.edges.tolist(), "counts": self.counts.tolist()}


def bin_count(sorted_values: np.ndarray, max_bins: int = MAX_BINS) -> int:
    """Freedman-Diaconis bin count for sorted finite values, clipped to ``[1, max_bins]``.

    FD (bin width ``2 IQR / n^(1/3)``) is robust to the long right tail latencies have;
    when the IQR is zero (quantised timer, a handful of samples) Sturges' rule is used.
    """
    n = sorted_values.size
    if n < 2:
        return 1
    span = sorted_values[-1] - sorted_values[0]
    if span <= 0:
        return 1
    q1, q3 = _sorted_percentiles(sorted_values, (25.0, 75.0))
    width = 2.0 * (q3 - q1) / np.cbrt(n)
    bins = int(np.ceil(span / width)) if width > 0 else int(np.ceil(np.log2(n))) + 1
    return max(1, min(bins, max_bins))


def histogram(
    values: Iterable[float | None] | np.ndarray,
    *,
    bins: int | None = None,
    max_bins: int = MAX_BINS,
    value_range: tuple[float, float] | None = None,
) -> Histogram:
    """Histogram of the finite values; Freedman-Diaconis bins unless ``bins`` is given.

    ``value_range`` restricts the bins (e.g. to p1..p99 so one severe outlier does not
    squeeze the body into one bin); values outside it are not counted.
    """
    return _sorted_histogram(np.sort(as_values(values)), bins, max_bins, value_range)


def _sorted_histogram(
    sorted_values: np.ndarray,
    bins: int | None,
    max_bins: int,
    value_range: tuple[float, float] | None,
) -> Histogram:
    if sorted_values.size == 0:
        return Histogram(np.array([0.0, 1.0]), np.zeros(1, dtype=np.int64))
    lo, hi = value_range if value_range is not None else (sorted_values[0], sorted_values[-1])
    if hi <= lo:  # all values equal: one bin of unit width around them
        lo, hi = lo - 0.5, lo + 0.5
    inside = sorted_values[
        np.searchsorted(sorted_values, lo) : np.searchsorted(sorted_values, hi, "right")
    ]
    n_bins = bins if bins is not None else bin_count(inside, max_bins)
    edges = np.linspace(lo, hi, n_bins + 1)
    # On sorted data a histogram is a searchsorted of the edges: O(bins log n), no pass over
    # the values, which is what lets the dashboard redraw every frame.
    cum = np.searchsorted(inside, edges, side="left")
    cum[-1] = inside.size  # last bin closed on the right
    return Histogram(edges, np.diff(cum).astype(np.int64))


def _sorted_percentiles(sorted_values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``np.percentile`` (linear) on already sorted values, without sorting again."""
    n = sorted_values.size
    pos = np.asarray(qs, dtype=np.float64) / 100.0 * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one stage's values. Every float is NaN when ``n == 0``."""

    n: int  # finite values summarised
    missing: int  # None / NaN / inf values left out
    mean: float
    std: float  # sample standard deviation (ddof=1; 0 for one value)
    median: float
    min: float
    max: float
    q1: float  # 25th percentile
    q3: float  # 75th percentile
    mad: float  # raw median absolute deviation
    percentiles: dict[float, float] = field(default_factory=dict)  # e.g. {50.0: .., 99.0: ..}

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def cv(self) -> float:
        """Coefficient of variation std / mean (NaN when the mean is 0 or nothing was seen)."""
        return self.std / self.mean if self.n and self.mean != 0 else float("nan")

    @property
    def robust_cv(self) -> float:
        """1.4826 MAD / median: the CV a normal distribution would have, robust to outliers."""
        return (
            MAD_TO_SIGMA * self.mad / self.median if self.n and self.median != 0 else float("nan")
        )

    @property
    def p50(self) -> float:
        return self.percentile(50.0)

    @property
    def p90(self) -> float:
        return self.percentile(90.0)

    @property
    def p99(self) -> float:
        return self.percentile(99.0)

    def percentile(self, q: float) -> float:
        """A percentile computed with the summary (KeyError names the ones available)."""
        try:
            return self.percentiles[float(q)]
        except KeyError:
            raise KeyError(f"p{q:g} not computed; have {sorted(self.percentiles)}") from None

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None, percentiles become ``p50``-style keys."""
        out = {
            "n": self.n,
            "missing": self.missing,
            "mean": self.mean,
            "std": self.std,
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "q1": self.q1,
            "q3": self.q3,
            "iqr": self.iqr,
            "mad": self.mad,
            "cv": self.cv,
            "robust_cv": self.robust_cv,
        }
        out.update({f"p{q:g}": v for q, v in self.percentiles.items()})
        return {k: json_float(v) if isinstance(v, float) else v for k, v in out.items()}


def json_float(value: float | None) -> float | None:
    """A number as JSON can hold it: a float, or None where it is missing or not finite
    (JSON has no NaN or infinity)."""
    return float(value) if value is not None and math.isfinite(value) else None


def finite_median(values: Iterable[float | None] | np.ndarray) -> float | None:
    """The median of the finite values (None, NaN and inf left out); None when there are none."""
    finite = as_values(values)
    return float(np.median(finite)) if finite.size else None


def summarize(
    values: Iterable[float | None] | np.ndarray, qs: Sequence[float] = DEFAULT_PERCENTILES
) -> Summary:
    """Summary statistics of a 1-D series; ``qs`` are the extra percentiles to carry."""
    if not isinstance(values, np.ndarray):
        values = list(values)  # an iterator is read once, then counted
    finite = as_values(values)
    return _summary_of_sorted(np.sort(finite), len(values) - finite.size, qs)


def _summary_of_sorted(sorted_values: np.ndarray, missing: int, qs: Sequence[float]) -> Summary:
    n = sorted_values.size
    if n == 0:
        nan = float("nan")
        return Summary(
            0, missing, nan, nan, nan, nan, nan, nan, nan, nan, {float(q): nan for q in qs}
        )
    q1, median, q3, *rest = _sorted_percentiles(sorted_values, (25.0, 50.0, 75.0, *qs)).tolist()
    return Summary(
        n=n,
        missing=missing,
        mean=float(sorted_values.mean()),
        std=float(sorted_values.std(ddof=1)) if n > 1 else 0.0,
        median=median,
        min=float(sorted_values[0]),
        max=float(sorted_values[-1]),
        q1=q1,
        q3=q3,
        mad=float(np.median(np.abs(sorted_values - median))),
        percentiles={float(q): v for q, v in zip(qs, rest)},
    )


# --- a streaming window for the dashboard -----------------------------------------------------


class RollingWindow:
    """The last ``capacity`` finite values of one stage, in a preallocated ring buffer.

    Memory stays ``capacity`` floats however long the session runs. Statistics are computed
    on a sorted copy that is cached until the next append, so a dashboard redrawing at
    10 Hz pays for one sort per new sample, not per frame; percentiles and the histogram
    are then searches on the sorted copy.
    """

    def __init__(self, capacity: int = 10_000):
        if capacity < 1:
            raise ValueError(f"a window holds at least 1 value, not {capacity}")
        self.capacity = capacity
        self._buf = np.empty(capacity, dtype=np.float64)
        self._next = 0  # where the next value goes
        self._len = 0
        self.seen = 0  # finite values ever appended (the window holds the last of them)
        self.missing = 0  # None / NaN values ever offered, not stored
        self._sorted: np.ndarray | None = None

    def __len__(self) -> int:
        return self._len

    def reset(self) -> None:
        """Forget every value (e.g. after a policy change, to watch the new regime alone)."""
        self._next = self._len = self.seen = self.missing = 0
        self._sorted = None

    def append(self, value: float | None) -> None:
        self.extend((value,))

    def extend(self, values: Iterable[float | None] | np.ndarray) -> None:
        """Append many values at once (oldest first); non-finite ones are counted as missing."""
        arr = as_array(values)
        finite = arr[np.isfinite(arr)]
        self.missing += arr.size - finite.size
        if finite.size == 0:
            return
        self.seen += finite.size
        self._sorted = None
        if finite.size >= self.capacity:  # only the newest `capacity` survive
            self._buf[:] = finite[-self.capacity :]
            self._next, self._len = 0, self.capacity
            return
        first = min(finite.size, self.capacity - self._next)  # up to the end of the buffer
        self._buf[self._next : self._next + first] = finite[:first]
        self._buf[: finite.size - first] = finite[first:]  # the rest wraps to the front
        self._next = (self._next + finite.size) % self.capacity
        self._len = min(self._len + finite.size, self.capacity)

    def values(self) -> np.ndarray:
        """The window's values, oldest first (a copy)."""
        if self._len < self.capacity:
            return self._buf[: self._len].copy()
        return np.concatenate((self._buf[self._next :], self._buf[: self._next]))

    @property
    def last(self) -> float | None:
        return float(self._buf[self._next - 1]) if self._len else None

    def _sorted_values(self) -> np.ndarray:
        if self._sorted is None:
            self._sorted = np.sort(self._buf[: self._len])  # order in the ring is irrelevant
        return self._sorted

    def percentiles(self, qs: Sequence[float] = DEFAULT_PERCENTILES) -> np.ndarray:
        """Percentiles of the window (as ``np.percentile`` of :meth:`values`); NaN if empty."""
        if self._len == 0:
            return np.full(len(qs), np.nan)
        return _sorted_percentiles(self._sorted_values(), qs)

    def percentile(self, q: float) -> float:
        return float(self.percentiles((q,))[0])

    def histogram(
        self,
        *,
        bins: int | None = None,
        max_bins: int = MAX_BINS,
        value_range: tuple[float, float] | None = None,
    ) -> Histogram:
        return _sorted_histogram(self._sorted_values(), bins, max_bins, value_range)

    def summary(self, qs: Sequence[float] = DEFAULT_PERCENTILES) -> Summary:
        """Summary of the window; ``missing`` counts every non-finite value ever offered."""
        return _summary_of_sorted(self._sorted_values(), self.missing, qs)
