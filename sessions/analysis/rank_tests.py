"""The rank tests of a comparison, from scipy.stats: exact small-sample p-values where scipy
has them (``method="auto"``), the tie-corrected normal approximation elsewhere.

Thin wrappers only for the two cases scipy answers with an error or a warning instead of
a p-value: no variation at all (every value equal, every difference zero), where there is
no evidence of a difference and p is 1.
"""

from __future__ import annotations

import warnings

import numpy as np


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value (``scipy.stats.mannwhitneyu``, ``method="auto"``:
    exact when a side has fewer than 8 values and there are no ties, else the normal
    approximation with tie and continuity correction)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.concatenate((a, b))
    if both.size == 0 or np.all(both == both[0]):
        return 1.0
    from scipy import stats  # here, not at the top: `vlmtop --help` imports compare's names

    return float(stats.mannwhitneyu(a, b, alternative="two-sided", method="auto").pvalue)


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences ``d``
    (``scipy.stats.wilcoxon``, ``method="auto"``: exact for up to 50 differences without
    ties or zeros, else the normal approximation with tie and continuity correction; zero
    differences dropped, Wilcoxon's convention)."""
    d = np.asarray(d, dtype=np.float64)
    if np.count_nonzero(d) == 0:
        return 1.0
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sample size too small for normal approximation"
        return float(stats.wilcoxon(d, zero_method="wilcox", correction=True, method="auto").pvalue)
