"""Whether a change of policy (or of anything between two sessions) changed latency.

numpy only. The method follows criterion.rs and asv: compare medians, put a percentile
bootstrap confidence interval on their ratio, test with a rank test, and call a change
only when it is both statistically significant and larger than a noise threshold.

- Unpaired (default): ratio = median(B) / median(A); 95 % CI from resampling A and B
  independently; two-sided Mann-Whitney U p-value (normal approximation, tie and
  continuity corrected).
- Paired (both sides carry the same sample ids, e.g. the same synthetic samples measured
  under policy A and B): per id the median of its repeats on each side, then the
  differences ``d_i = b_i - a_i``; ratio = 1 + median(d) / median(a), so it reads like
  the unpaired ratio but without the spread between samples of different sizes; 95 % CI
  from resampling the pairs; Wilcoxon signed-rank p-value on ``d`` (normal
  approximation, zero differences dropped, tie and continuity corrected).

Verdict: ``same`` unless p < alpha AND the CI excludes 1 AND |ratio - 1| > threshold;
then ``faster`` (ratio < 1) or ``slower``. Outliers are counted, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.record import STAGE_COLUMNS, SampleRecord
from vlmtop.sessions.stats import MISSING, NORMAL, as_array, classify_outliers, detect_transient

DECODE_PER_TOKEN = "decode_per_token_ms"
# Every stage a comparison covers by default: the stored columns plus per-token decode
# (placed after decode, where the dashboard shows it).
_AFTER_DECODE = STAGE_COLUMNS.index("decode_ms") + 1
COMPARE_STAGES = (*STAGE_COLUMNS[:_AFTER_DECODE], DECODE_PER_TOKEN, *STAGE_COLUMNS[_AFTER_DECODE:])
# Per-token decode (vLLM's TPOT) is `decode/tok` on screen (record.stage_label) and
# `decode_per_token_ms` in JSON: a stage selection takes either spelling, and `tpot`.
STAGE_ALIASES = {"decode/tok": DECODE_PER_TOKEN, "decode_per_token": DECODE_PER_TOKEN, "tpot": DECODE_PER_TOKEN}

ALPHA = 0.05
# Changes of the median smaller than 2 % are called `same` even when significant. The
# samples compared are whole inference calls recorded minutes apart (GPU clocks, thermal
# state and allocator state drift by about that much between segments of one session),
# so a smaller change is not one a policy can be credited with. criterion.rs uses 1 % for
# micro-benchmarks in a tight loop; our noise floor is higher. It is well below the 5 %
# changes the policies are meant to reveal, which n = 200 samples detect reliably.
NOISE_THRESHOLD = 0.02
N_BOOT = 2000  # resamples: the 2.5 % / 97.5 % quantiles are then stable to ~0.1 % of ratio
SEED = 0  # fixed, so the same data always gives the same interval
MIN_VALUES = 2  # per side and stage
MIN_PAIRS = 8  # fewer common ids than this: compare unpaired
# Bootstrap index matrices are built this many elements at a time (~32 MB of int32 ranks).
BOOT_CHUNK_ELEMENTS = 4_000_000

FASTER, SLOWER, SAME = "faster", "slower", "same"
DIFFERENT = "different"  # what `--fail-on` calls either of faster and slower


class CompareError(VlmtopError):
    """A comparison cannot be made; the message says why and what to do."""


class NotEnoughSamplesError(CompareError):
    """A side has fewer than 2 measured values of a stage."""


class NothingToCompareError(CompareError):
    """One session ran under one policy only: there are no segments to compare."""


# --- the statistics -------------------------------------------------------------------------


def _ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks of ``x``, ties given their average rank; also the size of every tie group."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    group_starts = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1], [True])))
    group_sizes = np.diff(group_starts)
    average_rank = group_starts[:-1] + (group_sizes + 1) / 2.0
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(average_rank, group_sizes)
    return ranks, group_sizes


def _two_sided_normal_p(deviation: float, variance: float) -> float:
    """p of |statistic - mean| >= deviation under N(mean, variance), continuity corrected."""
    if variance <= 0:
        return 1.0
    z = max(abs(deviation) - 0.5, 0.0) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value, normal approximation with tie correction.

    Matches ``scipy.stats.mannwhitneyu(a, b, method="asymptotic")``; the approximation is
    within a few thousandths of the exact p for n >= 8 per side.
    """
    n1, n2 = a.size, b.size
    n = n1 + n2
    ranks, ties = _ranks(np.concatenate((a, b)))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    tie_term = float((ties.astype(np.float64) ** 3 - ties).sum()) / (n * (n - 1))
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    return _two_sided_normal_p(u1 - n1 * n2 / 2.0, variance)


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences ``d``.

    Zero differences are dropped (Wilcoxon's convention), ties share ranks; normal
    approximation with tie and continuity correction, as
    ``scipy.stats.wilcoxon(d, correction=True, method="approx")``.
    """
    d = d[d != 0]
    n = d.size
    if n == 0:
        return 1.0
    ranks, ties = _ranks(np.abs(d))
    t_plus = ranks[d > 0].sum()
    variance = (
        n * (n + 1) * (2 * n + 1) / 24.0 - float((ties.astype(np.float64) ** 3 - ties).sum()) / 48.0
    )
    return _two_sided_normal_p(t_plus - n * (n + 1) / 4.0, variance)


def _resampled_medians(
    columns: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Medians of ``n_boot`` resamples of equally long ``columns``, resampled by one index.

    One index per resample for all columns keeps pairs together (paired bootstrap); pass
    one column for an ordinary bootstrap. Vectorised in chunks to bound memory. Each
    column is replaced by the ranks of its values, so a resample's median comes from a
    partition of int32 ranks looked up in the sorted column: the same medians as
    ``np.median(column[idx], axis=1)``, in about two thirds of the time.
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
            medians[start:stop] = (
                sorted_column[mid[:, middle[0]]] + sorted_column[mid[:, middle[1]]]
            ) / 2.0
    return out


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    """numerator / denominator where the denominator is positive, NaN elsewhere.

    A median at or below zero (other_ms within clock error of 0) has no meaningful ratio.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _interval(ratios: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = ratios[np.isfinite(ratios)]
    # If more than the tail mass is undefined the interval is too.
    if finite.size < ratios.size * confidence:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(finite, (tail, 100.0 - tail))
    return float(lo), float(hi)


@dataclass(frozen=True)
class Comparison:
    """One stage compared between A (before, baseline) and B (after, candidate)."""

    stage: str
    n_a: int  # values of A used
    n_b: int
    median_a: float  # paired: median of A's per-id medians over the common ids
    median_b: float
    ratio: float  # B relative to A (< 1: B is faster); NaN when median A <= 0
    ci_low: float  # 95 % percentile-bootstrap interval of the ratio
    ci_high: float
    p_value: float  # Mann-Whitney U, or Wilcoxon signed-rank when paired
    verdict: str  # faster | slower | same
    paired: bool
    n_pairs: int = 0  # common sample ids, when paired
    test: str = "mann-whitney"  # mann-whitney | wilcoxon
    outliers_a: int = 0  # Tukey outliers (mild or severe) among A's values: counted, kept
    outliers_b: int = 0
    threshold: float = NOISE_THRESHOLD
    alpha: float = ALPHA
    n_boot: int = N_BOOT

    @property
    def change(self) -> float:
        """Relative change of the median: ratio - 1 (+0.05 is 5 % slower)."""
        return self.ratio - 1.0

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def _verdict(
    ratio: float, ci: tuple[float, float], p: float, alpha: float, threshold: float
) -> str:
    if not (math.isfinite(ratio) and math.isfinite(ci[0]) and math.isfinite(ci[1])):
        return SAME
    significant = p < alpha and (ci[0] > 1.0 or ci[1] < 1.0)
    if not significant or abs(ratio - 1.0) <= threshold:
        return SAME
    return SLOWER if ratio > 1.0 else FASTER


def _outlier_count(values: np.ndarray) -> int:
    labels = classify_outliers(values)
    return int(np.count_nonzero((labels != NORMAL) & (labels != MISSING)))


def _per_key_medians(values: np.ndarray, keys: Sequence) -> dict:
    """The median of each key's values (a sample measured several times counts once)."""
    groups: dict = {}
    for key, value in zip(keys, values.tolist()):
        if key not in (None, ""):
            groups.setdefault(key, []).append(value)
    return {key: float(np.median(vals)) for key, vals in groups.items()}


def _common_keys(medians_a: dict, medians_b: dict) -> list:
    """Ids to pair on, or [] when too few are shared to pair (then compare unpaired).

    Pairing needs at least MIN_PAIRS common ids covering half of each side's ids, so a
    comparison of mostly different samples is not reduced to their small overlap.
    """
    common = [key for key in medians_a if key in medians_b]
    enough = len(common) >= MIN_PAIRS and 2 * len(common) >= max(len(medians_a), len(medians_b))
    return common if enough else []


def compare(
    a: Iterable[float | None] | np.ndarray,
    b: Iterable[float | None] | np.ndarray,
    *,
    stage: str = "",
    paired_keys: tuple[Sequence, Sequence] | None = None,
    threshold: float = NOISE_THRESHOLD,
    alpha: float = ALPHA,
    n_boot: int = N_BOOT,
    seed: int | None = SEED,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Compare one stage's values under A (baseline) and B.

    ``paired_keys=(keys_a, keys_b)`` gives each value's sample id (same lengths as ``a``
    and ``b``; None or "" for unknown). When enough ids are shared (see
    :func:`_common_keys`) the comparison is paired on them, else unpaired. None / NaN
    values are left out (with their keys). Raises :class:`NotEnoughSamplesError` when a
    side has fewer than 2 values.
    """
    a_raw, b_raw = as_array(a), as_array(b)
    keep_a, keep_b = np.isfinite(a_raw), np.isfinite(b_raw)
    a_vals, b_vals = a_raw[keep_a], b_raw[keep_b]
    for name, vals in zip(labels, (a_vals, b_vals)):
        if vals.size < MIN_VALUES:
            what = f" of {stage}" if stage else ""
            raise NotEnoughSamplesError(
                f"{name} has {vals.size} measured value{'s' * (vals.size != 1)}{what}; "
                f"a comparison needs at least {MIN_VALUES} on each side"
            )
    rng = np.random.default_rng(seed)
    common: list = []
    if paired_keys is not None:
        keys_a = [k for k, keep in zip(paired_keys[0], keep_a) if keep]
        keys_b = [k for k, keep in zip(paired_keys[1], keep_b) if keep]
        med_a, med_b = _per_key_medians(a_vals, keys_a), _per_key_medians(b_vals, keys_b)
        common = _common_keys(med_a, med_b)
    if common:
        pa = np.array([med_a[k] for k in common])
        pb = np.array([med_b[k] for k in common])
        d = pb - pa
        median_a, median_b = float(np.median(pa)), float(np.median(pb))
        ratio = float(1.0 + _ratio(np.median(d), median_a))
        boot_d, boot_a = _resampled_medians((d, pa), n_boot, rng)
        ci = _interval(1.0 + _ratio(boot_d, boot_a), confidence)
        p = wilcoxon_p(d)
    else:
        median_a, median_b = float(np.median(a_vals)), float(np.median(b_vals))
        # Both medians 0 (a stage the model does not have, timed as 0): no change.
        ratio = 1.0 if median_a == 0 == median_b else float(_ratio(median_b, median_a))
        (boot_a,) = _resampled_medians((a_vals,), n_boot, rng)
        (boot_b,) = _resampled_medians((b_vals,), n_boot, rng)
        both_zero = (boot_a == 0) & (boot_b == 0)
        ci = _interval(np.where(both_zero, 1.0, _ratio(boot_b, boot_a)), confidence)
        p = mann_whitney_p(a_vals, b_vals)
    return Comparison(
        stage=stage,
        n_a=int(a_vals.size),
        n_b=int(b_vals.size),
        median_a=median_a,
        median_b=median_b,
        ratio=ratio,
        ci_low=ci[0],
        ci_high=ci[1],
        p_value=p,
        verdict=_verdict(ratio, ci, p, alpha, threshold),
        paired=bool(common),
        n_pairs=len(common),
        test="wilcoxon" if common else "mann-whitney",
        outliers_a=_outlier_count(a_vals),
        outliers_b=_outlier_count(b_vals),
        threshold=threshold,
        alpha=alpha,
        n_boot=n_boot,
    )


# --- rows and segments -----------------------------------------------------------------------


def is_measured(row: SampleRecord) -> bool:
    """What statistics use: not a warm-up sample, and the sample ran without error."""
    return not row.is_warmup and row.status == "ok"


def canonical_stage(text: str) -> str:
    """A stage as a person writes it (``prefill``, ``e2e_ms``, ``decode/tok``, ``tpot``) -> its
    column name, as in JSON (``decode_per_token_ms``)."""
    name = text.strip().lower().replace("-", "_")
    name = STAGE_ALIASES.get(name, name)
    if name not in COMPARE_STAGES and f"{name}_ms" in COMPARE_STAGES:
        name = f"{name}_ms"
    if name not in COMPARE_STAGES:
        raise CompareError(f"unknown stage {text!r}: one of {', '.join(stage_option_names())}")
    return name


def stage_option_names() -> list[str]:
    """The canonical spelling of every stage for ``--stage``: the column without ``_ms``."""
    return [stage.removesuffix("_ms") for stage in COMPARE_STAGES]


def stage_values(rows: Iterable[SampleRecord], stage: str) -> tuple[np.ndarray, list[str]]:
    """One stage's values (NaN where absent) and sample ids of the MEASURED rows, in order."""
    stage = canonical_stage(stage)
    measured = [row for row in rows if is_measured(row)]
    values = as_array([getattr(row, stage) for row in measured])  # per token: a property
    return values, [row.sample_id for row in measured]


def compare_rows(
    rows_a: Sequence[SampleRecord],
    rows_b: Sequence[SampleRecord],
    stages: Sequence[str] | None = None,
    *,
    threshold: float = NOISE_THRESHOLD,
    alpha: float = ALPHA,
    n_boot: int = N_BOOT,
    seed: int | None = SEED,
    pair: bool = True,
    labels: tuple[str, str] = ("A", "B"),
) -> list[Comparison]:
    """One :class:`Comparison` per stage, from the measured ok samples of two row sets.

    With ``stages=None`` every stage of :data:`COMPARE_STAGES` that either side measured is
    compared (a stage no sample of either side has, e.g. ttft without new tokens, is left
    out); a stage named explicitly (in any spelling :func:`canonical_stage` takes) is always
    compared. Pairs on ``sample_id`` when
    ``pair`` and the ids allow it. Raises :class:`NotEnoughSamplesError` when a compared
    stage has fewer than 2 values on a side.
    """
    explicit = stages is not None
    results = []
    for stage in COMPARE_STAGES if stages is None else [canonical_stage(s) for s in stages]:
        a, ids_a = stage_values(rows_a, stage)
        b, ids_b = stage_values(rows_b, stage)
        if not explicit and not (np.isfinite(a).any() or np.isfinite(b).any()):
            continue
        results.append(
            compare(
                a,
                b,
                stage=stage,
                paired_keys=(ids_a, ids_b) if pair else None,
                threshold=threshold,
                alpha=alpha,
                n_boot=n_boot,
                seed=seed,
                labels=labels,
            )
        )
    return results


@dataclass
class Segment:
    """A maximal run of consecutive samples recorded under the same three policies."""

    cache_policy: str
    warmup_policy: str
    timing_mode: str
    rows: list[SampleRecord] = field(default_factory=list)  # every sample: warm-up, errors too
    transient: int = 0  # leading measured samples before e2e_ms settles: flagged, kept

    @property
    def policies(self) -> tuple[str, str, str]:
        return (self.cache_policy, self.warmup_policy, self.timing_mode)

    @property
    def label(self) -> str:
        return f"cache={self.cache_policy} warmup={self.warmup_policy} timing={self.timing_mode}"

    @property
    def first_seq(self) -> int:
        return self.rows[0].seq

    @property
    def last_seq(self) -> int:
        return self.rows[-1].seq

    @property
    def measured(self) -> list[SampleRecord]:
        return [row for row in self.rows if is_measured(row)]

    @property
    def settled(self) -> list[SampleRecord]:
        """The measured samples after the detected transient (for an explicit opt-out)."""
        return self.measured[self.transient :]

    def to_dict(self) -> dict:
        return {
            "cache_policy": self.cache_policy,
            "warmup_policy": self.warmup_policy,
            "timing_mode": self.timing_mode,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "samples": len(self.rows),
            "measured": len(self.measured),
            "transient": self.transient,
        }


def segments(rows: Iterable[SampleRecord]) -> list[Segment]:
    """Split samples (any order; sorted by seq here) at every change of policy.

    Every sample carries the policies it ran under, so the samples alone are the truth
    about segment boundaries; events only say when a change was asked for. Each segment's
    ``transient`` is :func:`detect_transient` on its measured e2e_ms in seq order.
    """
    out: list[Segment] = []
    for row in sorted(rows, key=lambda r: r.seq):
        policies = (row.cache_policy, row.warmup_policy, row.timing_mode)
        if not out or out[-1].policies != policies:
            out.append(Segment(*policies))
        out[-1].rows.append(row)
    for seg in out:
        seg.transient = detect_transient([row.e2e_ms for row in seg.measured])
    return out


@dataclass
class SegmentComparison:
    """Two consecutive segments of one session, compared (or why they could not be)."""

    index_a: int  # positions in the segments list
    index_b: int
    a: Segment
    b: Segment
    results: list[Comparison] = field(default_factory=list)
    skipped: str | None = None  # why there are no results

    def to_dict(self) -> dict:
        out = {
            "a": {"index": self.index_a, **self.a.to_dict()},
            "b": {"index": self.index_b, **self.b.to_dict()},
            "stages": [r.to_dict() for r in self.results],
        }
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def compare_segments(
    segs: Sequence[Segment],
    stages: Sequence[str] | None = None,
    *,
    skip_transient: bool = False,
    **options,
) -> list[SegmentComparison]:
    """Compare each segment with the next (``options`` go to :func:`compare_rows`).

    A pair where a side has too few measured samples is kept with ``skipped`` set, so a
    quick double toggle does not hide the comparisons around it. ``skip_transient``
    leaves out each segment's flagged leading samples; by default they are kept.
    """
    out = []
    for i in range(len(segs) - 1):
        a, b = segs[i], segs[i + 1]
        pick = (lambda s: s.settled) if skip_transient else (lambda s: s.measured)
        item = SegmentComparison(i, i + 1, a, b)
        try:
            item.results = compare_rows(
                pick(a), pick(b), stages, labels=(f"segment {i}", f"segment {i + 1}"), **options
            )
        except NotEnoughSamplesError as exc:
            item.skipped = str(exc)
        out.append(item)
    return out
