"""Bootstrap confidence intervals of a median ratio: scipy.stats.bootstrap for samples of
one process, and the numpy resampling the hierarchical bootstrap needs (scipy has none).

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

    The within-process level of the hierarchical bootstrap. One index per resample for all
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


def hierarchical_means(
    per_process: np.ndarray, n_boot: int, rng: np.random.Generator, hosts: Sequence | None = None
) -> np.ndarray:
    """The process level: ``per_process[p, r]`` is process p's statistic in its own
    within-process resample r. Each output resample draws k processes with replacement
    (k = number of processes) and, for each draw, one of that process's resamples, and
    averages them. Memory: n_boot x k indices.

    ``hosts`` (one name per process) spanning 2 or more hosts adds the level above:
    :func:`host_means`. One host (or None) draws exactly as without it."""
    if hosts is not None and len(set(hosts)) > 1:
        return host_means(per_process, n_boot, rng, hosts)
    k, n_inner = per_process.shape
    which = rng.integers(0, k, size=(n_boot, k))
    inner = rng.integers(0, n_inner, size=(n_boot, k))
    return per_process[which, inner].mean(axis=1)


def host_means(per_process: np.ndarray, n_boot: int, rng: np.random.Generator, hosts: Sequence) -> np.ndarray:
    """The 3-level bootstrap: each output resample draws H hosts with replacement (H = number
    of hosts), for each drawn host as many of ITS processes as it has (with replacement), for
    each of those one within-process resample, and averages every drawn process (as the
    point estimate averages processes). Processes on one host share its state (driver,
    clocks, cooling, neighbours), so a host, not a process, is the independent draw."""
    names = sorted(set(hosts), key=str)
    members = [np.flatnonzero(np.array([h == name for h in hosts])) for name in names]
    n_inner = per_process.shape[1]
    drawn = rng.integers(0, len(names), size=(n_boot, len(names)))
    sums, counts = np.zeros(n_boot), np.zeros(n_boot)
    for slot in range(len(names)):
        for host, procs in enumerate(members):
            rows = np.flatnonzero(drawn[:, slot] == host)
            pick = procs[rng.integers(0, procs.size, size=(rows.size, procs.size))]
            inner = rng.integers(0, n_inner, size=(rows.size, procs.size))
            sums[rows] += per_process[pick, inner].sum(axis=1)
            counts[rows] += procs.size
    return sums / counts
