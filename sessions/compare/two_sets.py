"""Whether a change of policy, knob or anything between two sample sets changed latency.

The method follows criterion.rs and asv: compare medians and put a percentile bootstrap
confidence interval on their ratio; the verdict comes from that interval against the noise
threshold (sessions/compare/verdict.py: `slower`/`faster` beyond the band, `same` inside it,
`inconclusive` otherwise). A rank test's p-value is shown beside it, as information. The
tests and the bootstrap are scipy.stats' (sessions/analysis/rank_tests.py, sessions/analysis/bootstrap.py).

- Unpaired: ratio = median(B) / median(A); interval from resampling A and B
  independently; two-sided Mann-Whitney U p-value.
- Paired (both sides carry the same sample ids, e.g. the same synthetic samples measured
  under arm A and arm B): per id the median of its repeats on each side, then the
  differences ``d_i = b_i - a_i``; ratio = 1 + median(d) / median(a); interval from
  resampling the pairs; Wilcoxon signed-rank p-value on ``d``.

The intervals of one comparison hold together: with m stages compared, each is at
``1 - alpha/m`` (Bonferroni), so all m cover their ratios at least 95 % of the time and a
comparison of 8 unchanged stages is called different at most 1 time in 20, not 8 times as
often as one stage. Outliers are counted, never dropped.

These statistics treat every sample as independent evidence, which holds inside ONE
process (arms interleaved, or consecutive segments). Between processes it does not: a
process carries its own offset. sessions/compare/across_processes.py compares across processes, and
every :class:`Comparison` names the evidence its verdict rests on (``evidence``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from vlmtop.sessions.analysis.bootstrap import ratio as safe_ratio
from vlmtop.sessions.analysis.bootstrap import ratio_ci
from vlmtop.sessions.analysis.outliers import MISSING, NORMAL, classify_outliers
from vlmtop.sessions.analysis.rank_tests import mann_whitney_p, wilcoxon_p
from vlmtop.sessions.analysis.segments import Segment
from vlmtop.sessions.analysis.stats import as_array
from vlmtop.sessions.compare.columns import Columns
from vlmtop.sessions.compare.terms import (
    ALPHA,
    COMPARE_STAGES,
    MIN_INTERVAL_VALUES,
    MIN_PAIRS,
    MIN_VALUES,
    N_BOOT,
    NOISE_THRESHOLD,
    ONE_PROCESS_SEGMENTS,
    PAIRED_SEGMENTS,
    CompareOptions,
    NotEnoughSamplesError,
    canonical_stage,
)
from vlmtop.sessions.compare.verdict import Verdict, decide
from vlmtop.sessions.records import SampleRecord, is_measured

# The words a person reads on each side of a comparison's evidence, in Verdict's `unit`.
PAIRED_UNIT, UNPAIRED_UNIT, PROCESS_UNIT = "pairs", "samples per side", "processes per side"


@dataclass(frozen=True)
class Comparison:
    """One stage compared between A (before, baseline) and B (after, candidate)."""

    stage: str
    n_a: int  # values of A used
    n_b: int
    median_a: float  # paired: median of A's per-id medians over the common ids
    median_b: float
    ratio: float  # B relative to A (< 1: B is faster); NaN when median A <= 0
    ci_low: float  # the (1 - alpha) interval of the ratio: what the verdict is decided on
    ci_high: float
    p_value: float  # Mann-Whitney U, Wilcoxon signed-rank, or a process-level t-test: shown, not decisive
    verdict: str  # faster | slower | same | inconclusive (sessions/compare/verdict.py)
    paired: bool
    n_pairs: int = 0  # common sample ids, when paired
    test: str = "mann-whitney"  # mann-whitney | wilcoxon | welch-t | t | one-sample-t
    outliers_a: int = 0  # Tukey outliers (mild or severe) among A's values: counted, kept
    outliers_b: int = 0
    threshold: float = NOISE_THRESHOLD
    alpha: float = ALPHA
    n_boot: int = N_BOOT
    evidence: str = ""  # what the verdict rests on: see PAIRED_ARMS and the other levels
    verdict_note: str | None = None  # why `inconclusive`: "interval ±9% is wider than the ±2% band"
    verdict_short: str | None = None  # the same in a few words: "too wide"
    needed: int | None = None  # estimated evidence that would settle an inconclusive verdict
    needed_unit: str = ""  # what `needed` counts: pairs, samples per side, processes per side
    processes_a: int = 1  # worker processes (sessions) behind each side
    processes_b: int = 1
    between_process_share: float | None = None  # of the variance, when processes repeat
    noise_floor: float | None = None  # relative change process noise alone reaches (95 %)
    floor_source: str | None = None  # where that floor was measured
    floor_df: float | None = None  # the floor's degrees of freedom (None: taken as known)
    family: int = 1  # stages whose intervals hold together: each is at 1 - alpha / family

    @property
    def level(self) -> float:
        """Each interval's own level: 1 - alpha / family (0.95 for one stage)."""
        return 1.0 - self.alpha / self.family

    @property
    def change(self) -> float:
        """Relative change of the median: ratio - 1 (+0.05 is 5 % slower)."""
        return self.ratio - 1.0

    @property
    def settle(self) -> str | None:
        """What would settle an inconclusive verdict: ``~120 pairs would settle it``."""
        return self._verdict().settle

    @property
    def verdict_text(self) -> str:
        """The verdict as printed in full: ``inconclusive (interval ±9% is wider than ...)``."""
        return f"{self.verdict} ({self.verdict_note})" if self.verdict_note else self.verdict

    def _verdict(self) -> Verdict:
        return Verdict(self.verdict, self.verdict_note, self.verdict_short, self.needed, self.needed_unit)

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None; ``settle`` says what would settle an inconclusive verdict."""
        out = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }
        out["settle"] = self.settle
        return out


def judged(result: Comparison, ci: tuple[float, float] | None = None, n: int | None = None,
           unit: str | None = None, min_n: int = 0, **changes) -> Comparison:
    """``result`` with its verdict decided (sessions/compare/verdict.py) on ``ci`` (default: its own
    interval), over ``n`` units of evidence named ``unit`` (default: its pairs or samples),
    of which the interval needs ``min_n``."""
    result = replace(result, **changes)
    if ci is not None:
        result = replace(result, ci_low=ci[0], ci_high=ci[1])
    if n is None:
        n = result.n_pairs if result.paired else min(result.n_a, result.n_b)
    if unit is None:
        unit = PAIRED_UNIT if result.paired else UNPAIRED_UNIT
    verdict = decide(result.ratio, (result.ci_low, result.ci_high), result.threshold, n, unit, min_n)
    return replace(result, verdict=verdict.word, verdict_note=verdict.reason, verdict_short=verdict.short,
                   needed=verdict.needed, needed_unit=verdict.unit)


def _outlier_count(values: np.ndarray) -> int:
    labels = classify_outliers(values)
    return int(np.count_nonzero((labels != NORMAL) & (labels != MISSING)))


def per_key_medians(values: np.ndarray, keys: Sequence) -> dict:
    """The median of each key's values (a sample measured several times counts once), keys
    in first appearance order. Sorted by (key, value) in numpy: a million samples are
    three int/float arrays here, not a million Python floats in lists."""
    index: dict = {}
    codes = np.fromiter((-1 if key in (None, "") else index.setdefault(key, len(index)) for key in keys),
                        dtype=np.int64, count=len(keys))
    if not index:
        return {}
    known = codes >= 0
    codes, vals = codes[known], np.asarray(values, dtype=np.float64)[known]
    ordered = vals[np.lexsort((vals, codes))]
    counts = np.bincount(codes, minlength=len(index))
    starts = np.cumsum(counts) - counts
    # np.median of each group: its middle value, or the mean of its two middle values.
    medians = (ordered[starts + (counts - 1) // 2] + ordered[starts + counts // 2]) / 2.0
    return dict(zip(index, medians.tolist()))


def common_keys(medians_a: dict, medians_b: dict) -> list:
    """Ids to pair on, or [] when too few are shared to pair (then compare unpaired).

    Pairing needs at least MIN_PAIRS common ids covering half of each side's ids, so a
    comparison of mostly different samples is not reduced to their small overlap.
    """
    common = [key for key in medians_a if key in medians_b]
    enough = len(common) >= MIN_PAIRS and 2 * len(common) >= max(len(medians_a), len(medians_b))
    return common if enough else []


def finite_values(values, keys, stage: str, name: str) -> tuple[np.ndarray, list | None]:
    """The finite values (and their keys); NotEnoughSamplesError below MIN_VALUES."""
    raw = as_array(values)
    keep = np.isfinite(raw)
    vals = raw[keep]
    if vals.size < MIN_VALUES:
        what = f" of {stage}" if stage else ""
        raise NotEnoughSamplesError(
            f"{name} has {vals.size} measured value{'s' * (vals.size != 1)}{what}; "
            f"a comparison needs at least {MIN_VALUES} on each side"
        )
    if keys is None or vals.size == raw.size:  # every value finite: the keys as given
        return vals, None if keys is None else keys
    return vals, [k for k, ok in zip(keys, keep) if ok]


def compare(
    a: Iterable[float | None] | np.ndarray,
    b: Iterable[float | None] | np.ndarray,
    *,
    stage: str = "",
    paired_keys: tuple[Sequence, Sequence] | None = None,
    options: CompareOptions = CompareOptions(),
    labels: tuple[str, str] = ("A", "B"),
    evidence: str = "",
) -> Comparison:
    """Compare one stage's values under A (baseline) and B.

    ``paired_keys=(keys_a, keys_b)`` gives each value's sample id (same lengths as ``a``
    and ``b``; None or "" for unknown). When enough ids are shared (see
    :func:`common_keys`) the comparison is paired on them, else unpaired. None / NaN
    values are left out (with their keys). The interval is at ``options.confidence``: one
    of ``options.family`` stages whose intervals hold together. Raises
    :class:`NotEnoughSamplesError` when a side has fewer than 2 values.
    """
    confidence, n_boot, seed = options.confidence, options.n_boot, options.seed
    keys = paired_keys or (None, None)
    a_vals, keys_a = finite_values(a, keys[0], stage, labels[0])
    b_vals, keys_b = finite_values(b, keys[1], stage, labels[1])
    common: list = []
    if paired_keys is not None:
        med_a, med_b = per_key_medians(a_vals, keys_a), per_key_medians(b_vals, keys_b)
        common = common_keys(med_a, med_b)
    if common:
        pa = np.array([med_a[k] for k in common])
        pb = np.array([med_b[k] for k in common])
        d = pb - pa
        median_a, median_b = float(np.median(pa)), float(np.median(pb))
        ratio = float(1.0 + safe_ratio(np.median(d), median_a))
        ci = ratio_ci(pa, pb, paired=True, n_boot=n_boot, seed=seed, confidence=confidence)
        p = wilcoxon_p(d)
    else:
        median_a, median_b = float(np.median(a_vals)), float(np.median(b_vals))
        # Both medians 0 (a stage the model does not have, timed as 0): no change.
        ratio = 1.0 if median_a == 0 == median_b else float(safe_ratio(median_b, median_a))
        ci = ratio_ci(a_vals, b_vals, paired=False, n_boot=n_boot, seed=seed, confidence=confidence)
        p = mann_whitney_p(a_vals, b_vals)
    return judged(Comparison(
        stage=stage,
        n_a=int(a_vals.size),
        n_b=int(b_vals.size),
        median_a=median_a,
        median_b=median_b,
        ratio=ratio,
        ci_low=ci[0],
        ci_high=ci[1],
        p_value=p,
        verdict="",
        paired=bool(common),
        n_pairs=len(common),
        test="wilcoxon" if common else "mann-whitney",
        outliers_a=_outlier_count(a_vals),
        outliers_b=_outlier_count(b_vals),
        threshold=options.threshold,
        alpha=options.alpha,
        n_boot=n_boot,
        evidence=evidence,
        family=options.family or 1,
    ), min_n=MIN_INTERVAL_VALUES)


# --- rows and stages ---------------------------------------------------------------------------


def stage_values(rows: Iterable[SampleRecord] | Columns, stage: str) -> tuple[np.ndarray, list[str]]:
    """One stage's values (NaN where absent) and sample ids of the MEASURED rows, in order.
    ``rows``: records, or :class:`Columns` (measured already: what `vlmtop compare` reads)."""
    stage = canonical_stage(stage)
    if isinstance(rows, Columns):
        return rows.stage(stage), rows.sample_ids
    measured = [row for row in rows if is_measured(row)]
    values = as_array([getattr(row, stage) for row in measured])  # per token: a property
    return values, [row.sample_id for row in measured]


def stages_to_compare(stages: Sequence[str] | None, *row_sets: Sequence[SampleRecord]) -> list[str]:
    """Named stages (canonical), or every stage of COMPARE_STAGES that each row set measured
    (a stage no sample has, e.g. ttft without new tokens, is left out, and so is one that
    ran on one side only: vision beside text-only prompts, see :func:`not_run_on_a_side`)."""
    if stages is not None:
        return [canonical_stage(s) for s in stages]
    return [stage for stage in COMPARE_STAGES if all(measured_somewhere(stage, [rows]) for rows in row_sets)]


def not_run_on_a_side(stages: Sequence[str] | None, sides: Mapping[str, Sequence[SampleRecord]]) -> dict[str, str]:
    """{stage: why it is not compared} for the stages some side measured and another did
    not run at all (vision and projector on text-only prompts); {} when stages are named."""
    if stages is not None:
        return {}
    out = {}
    for stage in COMPARE_STAGES:
        missing = [label for label, rows in sides.items() if not measured_somewhere(stage, [rows])]
        if missing and len(missing) < len(sides):
            out[stage] = f"not run in {', '.join(missing)}"
    return out


def measured_somewhere(stage: str, row_sets: Sequence) -> bool:
    """Whether any of the row sets (records or Columns) has a value of ``stage``."""
    return any(np.isfinite(stage_values(rows, stage)[0]).any() for rows in row_sets)


def compare_rows(
    rows_a: Sequence[SampleRecord],
    rows_b: Sequence[SampleRecord],
    stages: Sequence[str] | None = None,
    options: CompareOptions = CompareOptions(),
    *,
    labels: tuple[str, str] = ("A", "B"),
    evidence: str = "",
) -> list[Comparison]:
    """One :class:`Comparison` per stage, from the measured ok samples of two row sets.

    With ``stages=None`` every stage of :data:`COMPARE_STAGES` that either side measured is
    compared; a stage named explicitly (in any spelling :func:`canonical_stage` takes) is
    always compared. Pairs on ``sample_id`` when ``options.pair`` and the ids allow it. The
    stages' intervals hold together (``options.family``: by default the stages compared
    here; a caller that compares a comparison's stages one call at a time gives their
    number). Raises :class:`NotEnoughSamplesError` when a compared stage has fewer than 2
    values on a side.
    """
    results = []
    every = stages_to_compare(stages, rows_a, rows_b)
    options = replace(options, family=options.family or len(every))
    for stage in every:
        a, ids_a = stage_values(rows_a, stage)
        b, ids_b = stage_values(rows_b, stage)
        results.append(compare(a, b, stage=stage, paired_keys=(ids_a, ids_b) if options.pair else None,
                               options=options, labels=labels, evidence=evidence))
    return results


# --- consecutive policy segments of one session ----------------------------------------------


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
    options: CompareOptions = CompareOptions(),
    *,
    skip_transient: bool = False,
) -> list[SegmentComparison]:
    """Compare each segment with the next (``options`` go to :func:`compare_rows`).

    A pair where a side has too few measured samples is kept with ``skipped`` set, so a
    quick double toggle does not hide the comparisons around it. ``skip_transient``
    leaves out each segment's flagged leading samples; by default they are kept. Each
    stage's ``evidence`` says whether it was paired on sample ids.
    """
    out = []
    for i in range(len(segs) - 1):
        a, b = segs[i], segs[i + 1]
        pick = (lambda s: s.settled) if skip_transient else (lambda s: s.measured)
        item = SegmentComparison(i, i + 1, a, b)
        try:
            results = compare_rows(
                pick(a), pick(b), stages, options, labels=(f"segment {i}", f"segment {i + 1}")
            )
            item.results = [
                _with(r, evidence=PAIRED_SEGMENTS if r.paired else ONE_PROCESS_SEGMENTS) for r in results
            ]
        except NotEnoughSamplesError as exc:
            item.skipped = str(exc)
        out.append(item)
    return out


def _with(result: Comparison, **changes) -> Comparison:
    return replace(result, **changes)
