"""Bootstrap confidence intervals of a median ratio: scipy.stats.bootstrap for samples of
one process, and vectorised resampled medians for the within-process variance of a process's
figure (sessions/compare/across_processes.py).

Ratios: B relative to A. Unpaired: median(B) / median(A). Paired (each sample id measured
on both sides, d = b - a): 1 + median(d) / median(a), which reads like the unpaired ratio
without the spread between samples of different sizes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

# Resamples are evaluated this many values at a time (~32 MB of float64 per batch).
BOOT_CHUNK_ELEMENTS = 4_000_000


def ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    """numerator / denominator where the denominator is positive, NaN elsewhere.

    A median at or below zero (other_ms within clock error of 0) has no meaningful ratio.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def interval(ratios: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap ratios; NaN when more than the tail mass is undefined."""
    ratios = np.asarray(ratios, dtype=np.float64).ravel()
    finite = ratios[np.isfinite(ratios)]
    if finite.size == 0 or finite.size < ratios.size * confidence:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(finite, (tail, 100.0 - tail))
    return float(lo), float(hi)


def _unpaired_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    ma, mb = np.median(a, axis=axis), np.median(b, axis=axis)
    # Both medians 0 (a stage the model does not have, timed as 0): no change.
    return np.where((ma == 0) & (mb == 0), 1.0, ratio(mb, ma))


def _paired_ratio(d: np.ndarray, a: np.ndarray, axis: int = -1) -> np.ndarray:
    return 1.0 + ratio(np.median(d, axis=axis), np.median(a, axis=axis))


def ratio_ci(
    a: np.ndarray, b: np.ndarray, *, paired: bool, n_boot: int, seed: int | None, confidence: float
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the ratio (``scipy.stats.bootstrap``).

    Unpaired: A and B resampled independently. Paired: ``a`` and ``b`` are per-id values in
    the same id order and whole pairs are resampled. Seeded: the same data gives the same
    interval. The percentile method, not BCa: BCa's jackknife fails on the ties and
    zero-width distributions a quantised timer produces.
    """
    data = (b - a, a) if paired else (a, b)
    statistic = _paired_ratio if paired else _unpaired_ratio
    n = max(x.size for x in data)
    with warnings.catch_warnings():
        # "degenerate" warnings for every-value-equal data: the interval is then a point
        warnings.simplefilter("ignore")
        result = _bootstrap(data, statistic, n, n_boot, paired, confidence, seed)
    # scipy's interval is NaN as soon as one resample is; an undefined minority is left out.
    return interval(result.bootstrap_distribution, confidence)


def _bootstrap(data, statistic, n: int, n_boot: int, paired: bool, confidence: float, seed):
    from scipy import stats  # here, not at the top: `vlmtop --help` imports compare's names

    return stats.bootstrap(
        data,
        statistic,
        n_resamples=n_boot,
        batch=max(1, BOOT_CHUNK_ELEMENTS // n),
        vectorized=True,
        paired=paired,
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(seed),
    )


def resampled_medians(
    columns: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Medians of ``n_boot`` resamples of equally long ``columns``, resampled by one index.

    How uncertain one process's own median (or paired ratio) is. One index per resample for all
    columns keeps pairs together; pass one column for an ordinary bootstrap. Vectorised in
    chunks to bound memory. Each column is replaced by the ranks of its values, so a
    resample's median comes from a partition of int32 ranks looked up in the sorted column:
    the same medians as ``np.median(column[idx], axis=1)``, in about two thirds of the time.
    """
    n = columns[0].size
    middle = ((n - 1) // 2, n // 2)  # the two middle order statistics (equal for odd n)
    sorted_columns, rank_of = [], []
    for column in columns:
        order = np.argsort(column, kind="stable")
        ranks = np.empty(n, dtype=np.int32)
        ranks[order] = np.arange(n, dtype=np.int32)
        sorted_columns.append(column[order])
        rank_of.append(ranks)
    out = [np.empty(n_boot) for _ in columns]
    step = max(1, BOOT_CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, step):
        stop = min(start + step, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n), dtype=np.int32)
        for ranks, sorted_column, medians in zip(rank_of, sorted_columns, out):
            mid = np.partition(ranks[idx], middle, axis=1)
            medians[start:stop] = (sorted_column[mid[:, middle[0]]] + sorted_column[mid[:, middle[1]]]) / 2.0
    return out
