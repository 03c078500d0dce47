"""Comparisons across worker processes: the process, not the sample, is the unit of evidence.

A process is one draw of memory layout, thread placement, allocator and clock state: its
samples share an offset, so they are not independent evidence about a setting (issue 14:
six identical sessions were called different in 13 of 15 pairs). Kalibera & Jones
(ISMM'13): repeat at the level where the variance arises. Hence three cases:

- Several processes per side: a hierarchical bootstrap (resample processes, then samples
  within each; numpy, sessions/bootstrap.py) gives the ratio's CI. When a side's
  processes ran on several hosts they are nested in their hosts, and hosts are resampled
  first (3 levels; one host: 2 levels, the same draws as ever). The p-value is a t-test
  on the processes' log medians (Welch's when both sides have 2 or more), so it uses the
  process-level variation. The ratio is that of the sides' geometric means of process
  medians.
- Arms interleaved in every process of an experiment (the strongest design): each process
  gives a paired ratio (sessions/compare.py); the processes' log ratios are bootstrapped
  the same way and t-tested against 0.
- One process per side: the between-process variance cannot be estimated from the data.
  A process-noise floor measured elsewhere (sessions/noise_floor.py) is added to the
  sample-level uncertainty, with Student-t quantiles for the floor's degrees of freedom
  (an SD from 3 replicates is an estimate, not a constant); a change the samples call significant but that this wider
  interval does not is `inconclusive (1 process per side)`.

Every result also gives the between-process share of the variance of log latency (after
removing each sample id's own level), when a side has two processes or more.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats

from .bootstrap import hierarchical_means, interval, resampled_medians
from .compare_columns import Columns
from .compare import (
    ALPHA,
    COMPARE_STAGES,
    INCONCLUSIVE,
    N_BOOT,
    NOISE_THRESHOLD,
    ONE_PROCESS_PER_SIDE,
    SAME,
    SEED,
    Comparison,
    NotEnoughSamplesError,
    compare,
    decide,
    measured_somewhere,
    per_key_medians,
    stage_values,
    stages_to_compare,
)
from .noise_floor import NoiseFloor
from .record import SampleRecord
from .reliability import variance_components

Z95 = float(stats.norm.ppf(0.975))
ONE_PROCESS_NOTE = "1 process per side"
MIN_PROCESS_PAIRS = 2  # common sample ids a process needs for a paired ratio of its own

Process = Sequence[SampleRecord] | Columns  # the measured samples of one session


def _on_hosts(hosts: int) -> str:
    return f" on {hosts} hosts" if hosts > 1 else ""


def replicated_evidence(k_a: int, k_b: int, hosts: int = 1) -> str:
    return f"replicated across {k_a + k_b} processes{_on_hosts(hosts)} ({k_a} A, {k_b} B)"


def paired_replicated_evidence(k: int, hosts: int = 1) -> str:
    return f"paired in each process, replicated across {k} processes{_on_hosts(hosts)}"


def host_count(*host_lists: Sequence | None) -> int:
    """Distinct hosts among the processes' host names (1 when none are given)."""
    return max(1, len({h for hosts in host_lists if hosts is not None for h in hosts}))


def _values(process: Process, stage: str) -> tuple[np.ndarray, list[str]]:
    values, ids = stage_values(process, stage)
    keep = np.isfinite(values)
    if keep.all():  # no copy of a million ids
        return values, ids
    return values[keep], [i for i, ok in zip(ids, keep) if ok]


def _log_medians(boot: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(boot > 0, np.log(np.where(boot > 0, boot, 1.0)), np.nan)


def _between_share(columns: list[tuple[np.ndarray, list[str]]], side_of: list[int]) -> float | None:
    """Between-process share of log-latency variance, each (side, sample id)'s mean removed
    first (the spread between samples of different sizes is the samples', not noise)."""
    logs, keys, groups = [], [], []
    for index, ((values, ids), side) in enumerate(zip(columns, side_of)):
        positive = values > 0
        logs.append(np.log(values[positive]))
        keys += [f"{side}\x1f{sid}" if sid else f"{side}\x1f#{index}" for sid, ok in zip(ids, positive) if ok]
        groups += [index] * int(positive.sum())
    if not logs:
        return None
    x = np.concatenate(logs)
    _, key_index = np.unique(np.array(keys, dtype=object).astype(str), return_inverse=True)
    x = x - (np.bincount(key_index, weights=x) / np.bincount(key_index))[key_index]
    vc = variance_components(x, groups)
    return None if vc is None or not math.isfinite(vc.share) else float(vc.share)


def _t_test(lb: np.ndarray, la: np.ndarray) -> tuple[float, str]:
    """p of a difference of mean log medians; Welch with 2+ per side, pooled with 1 on a side."""
    welch = lb.size >= 2 and la.size >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(stats.ttest_ind(lb, la, equal_var=not welch).pvalue)
    return (p if math.isfinite(p) else 1.0), ("welch-t" if welch else "t")


def compare_sides_stage(
    side_a: Sequence[Process],
    side_b: Sequence[Process],
    stage: str,
    *,
    threshold: float = NOISE_THRESHOLD,
    alpha: float = ALPHA,
    n_boot: int = N_BOOT,
    seed: int | None = SEED,
    confidence: float = 0.95,
    floor: NoiseFloor | None = None,
    pair: bool = True,
    hosts: tuple[Sequence, Sequence] | None = None,
) -> Comparison:
    """One stage of side B's processes against side A's (see the module's three cases).
    ``hosts``: each side's host name per process; a side on 2 or more hosts is resampled
    hosts first (sessions/bootstrap.py host_means)."""
    k_a, k_b = len(side_a), len(side_b)
    hosts_a, hosts_b = hosts or (None, None)
    cols_a = [_values(p, stage) for p in side_a]
    cols_b = [_values(p, stage) for p in side_b]
    if k_a == 1 and k_b == 1:
        return _one_process_per_side(cols_a[0], cols_b[0], stage, threshold, alpha, n_boot, seed,
                                     confidence, floor, pair)
    for name, cols in (("A", cols_a), ("B", cols_b)):
        for index, (values, _) in enumerate(cols):
            if values.size < 2:
                raise NotEnoughSamplesError(
                    f"{name}'s process {index + 1} has {values.size} measured value"
                    f"{'s' * (values.size != 1)} of {stage}; a comparison needs at least 2 in each process"
                )
    rng = np.random.default_rng(seed)
    med_a = np.array([np.median(v) for v, _ in cols_a])
    med_b = np.array([np.median(v) for v, _ in cols_b])
    la, lb = _log_medians(med_a), _log_medians(med_b)
    if not (np.isfinite(la).all() and np.isfinite(lb).all()):  # a median <= 0: no ratio
        ratio, ci, p, test = float("nan"), (float("nan"), float("nan")), 1.0, "welch-t"
    else:
        boot_a = np.stack([_log_medians(resampled_medians((v,), n_boot, rng)[0]) for v, _ in cols_a])
        boot_b = np.stack([_log_medians(resampled_medians((v,), n_boot, rng)[0]) for v, _ in cols_b])
        diff = hierarchical_means(boot_b, n_boot, rng, hosts_b) - hierarchical_means(boot_a, n_boot, rng, hosts_a)
        ratio = float(np.exp(lb.mean() - la.mean()))
        ci = interval(np.exp(diff), confidence)
        p, test = _t_test(lb, la)
    share = _between_share(cols_a + cols_b, [0] * k_a + [1] * k_b)
    return Comparison(
        stage=stage,
        n_a=sum(v.size for v, _ in cols_a),
        n_b=sum(v.size for v, _ in cols_b),
        median_a=float(np.exp(np.log(med_a).mean())) if (med_a > 0).all() else float(np.median(med_a)),
        median_b=float(np.exp(np.log(med_b).mean())) if (med_b > 0).all() else float(np.median(med_b)),
        ratio=ratio,
        ci_low=ci[0],
        ci_high=ci[1],
        p_value=p,
        verdict=decide(ratio, ci, p, alpha, threshold),
        paired=False,
        test=test,
        threshold=threshold,
        alpha=alpha,
        n_boot=n_boot,
        evidence=replicated_evidence(k_a, k_b, host_count(hosts_a, hosts_b)),
        processes_a=k_a,
        processes_b=k_b,
        between_process_share=share,
    )


def _one_process_per_side(col_a, col_b, stage, threshold, alpha, n_boot, seed, confidence, floor, pair):
    (a, ids_a), (b, ids_b) = col_a, col_b
    base = compare(a, b, stage=stage, paired_keys=(ids_a, ids_b) if pair else None, threshold=threshold,
                   alpha=alpha, n_boot=n_boot, seed=seed, confidence=confidence, evidence=ONE_PROCESS_PER_SIDE)
    sd = floor.sd(stage) if floor is not None else None
    if sd is None:
        note = ONE_PROCESS_NOTE if base.verdict != SAME else None
        return replace(base, verdict=INCONCLUSIVE if note else SAME, verdict_note=note)
    out = replace(base, noise_floor=floor.relative(stage), floor_source=floor.source)
    if not all(math.isfinite(x) and x > 0 for x in (base.ratio, base.ci_low, base.ci_high)):
        return out
    # The sample-level interval's half-width in log space, widened by two processes' noise.
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    se_samples = (math.log(base.ci_high) - math.log(base.ci_low)) / (2 * z)
    se = math.sqrt(se_samples**2 + 2 * sd**2)
    # The floor's SD is estimated (3 replicates: 2 df), not known: Student-t quantiles and
    # p, with the Welch-Satterthwaite df of the sum (the floor's df when it dominates, more
    # when the samples' own spread does). Normal quantiles here called identical settings
    # different in 25 of 150 simulated pairs with a 3-replicate floor.
    samples_df = (base.n_pairs if base.paired else min(base.n_a, base.n_b)) - 1
    df = _satterthwaite(se_samples, sd, floor.degrees(stage), samples_df)
    q = float(stats.t.ppf(0.5 + confidence / 2.0, df)) if df is not None else z
    log_ratio = math.log(base.ratio)
    ci = (math.exp(log_ratio - q * se), math.exp(log_ratio + q * se))
    if se <= 0:
        p = base.p_value
    else:
        p = float(2 * (stats.t.sf(abs(log_ratio) / se, df) if df is not None else stats.norm.sf(abs(log_ratio) / se)))
    verdict = decide(base.ratio, ci, p, alpha, threshold) if base.verdict != SAME else SAME
    note = None
    if base.verdict != SAME and verdict == SAME:
        verdict, note = INCONCLUSIVE, ONE_PROCESS_NOTE
    return replace(out, ci_low=ci[0], ci_high=ci[1], p_value=p, verdict=verdict, verdict_note=note,
                   test=f"{base.test} + process floor")


def _satterthwaite(se_samples: float, sd: float, floor_df: float | None, samples_df: int) -> float | None:
    """Effective df of se_samples^2 + 2 sd^2 (Welch-Satterthwaite); None when both parts are
    taken as known (a floor without df)."""
    if floor_df is None or not math.isfinite(floor_df):
        return None
    floor_df = max(floor_df, 1.0)
    parts = [(2 * sd**2, floor_df), (se_samples**2, max(samples_df, 1))]
    total = sum(v for v, _ in parts)
    denominator = sum(v**2 / d for v, d in parts)
    return total**2 / denominator if denominator > 0 else floor_df


def compare_sides(
    side_a: Sequence[Process], side_b: Sequence[Process], stages: Sequence[str] | None = None, **options
) -> list[Comparison]:
    """One comparison per stage (every stage some process measured, or those named) of two
    sides, a stage at a time: a side of StoredColumns then holds one stage, not all."""
    if stages is not None:
        return [compare_sides_stage(side_a, side_b, stage, **options) for stage in stages_to_compare(stages)]
    return [compare_sides_stage(side_a, side_b, stage, **options) for stage in COMPARE_STAGES
            if measured_somewhere(stage, (*side_a, *side_b))]


# --- arms across replicated processes ------------------------------------------------------------


def compare_arms_across_stage(
    pairs: Sequence[tuple[Process, Process]],
    stage: str,
    *,
    threshold: float = NOISE_THRESHOLD,
    alpha: float = ALPHA,
    n_boot: int = N_BOOT,
    seed: int | None = SEED,
    confidence: float = 0.95,
    hosts: Sequence | None = None,
) -> Comparison:
    """``pairs``: per process, (baseline arm rows, arm rows). Paired on sample ids inside each
    process, processes resampled above them (and hosts above those when ``hosts``, one name
    per process, spans 2 or more); the p-value is a one-sample t-test of the processes' log
    ratios against 0 (k - 1 degrees of freedom)."""
    rng = np.random.default_rng(seed)
    log_ratios, boots, medians_a, medians_b, per_pair = [], [], [], [], []
    n_pairs = n_a = n_b = 0
    for index, (rows_base, rows_arm) in enumerate(pairs):
        (a, ids_a), (b, ids_b) = _values(rows_base, stage), _values(rows_arm, stage)
        med_a, med_b = per_key_medians(a, ids_a), per_key_medians(b, ids_b)
        common = [k for k in med_a if k in med_b]
        if len(common) < MIN_PROCESS_PAIRS:
            raise NotEnoughSamplesError(
                f"process {index + 1} has {len(common)} sample ids measured under both arms for {stage}; "
                f"a paired comparison needs at least {MIN_PROCESS_PAIRS} in each process"
            )
        pa = np.array([med_a[k] for k in common])
        pb = np.array([med_b[k] for k in common])
        d = pb - pa
        n_pairs, n_a, n_b = n_pairs + len(common), n_a + a.size, n_b + b.size
        medians_a.append(float(np.median(pa)))
        medians_b.append(float(np.median(pb)))
        log_ratios.append(_log_medians(np.array([1.0 + np.median(d) / np.median(pa)]) if np.median(pa) > 0
                                       else np.array([np.nan]))[0])
        boot_d, boot_a = resampled_medians((d, pa), n_boot, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            boots.append(_log_medians(np.where(boot_a > 0, 1.0 + boot_d / boot_a, np.nan)))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_pair.append((np.log(pb / pa), [f"p{index}"] * len(common)))
    lr = np.array(log_ratios)
    if np.isfinite(lr).all():
        ratio = float(np.exp(lr.mean()))
        ci = interval(np.exp(hierarchical_means(np.stack(boots), n_boot, rng, hosts)), confidence)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(stats.ttest_1samp(lr, 0.0).pvalue)
        p = p if math.isfinite(p) else 1.0
    else:
        ratio, ci, p = float("nan"), (float("nan"), float("nan")), 1.0
    finite = [(v[np.isfinite(v)], g[: int(np.isfinite(v).sum())]) for v, g in per_pair]
    vc = variance_components(np.concatenate([v for v, _ in finite]), [x for _, g in finite for x in g]) if finite else None
    k = len(pairs)
    return Comparison(
        stage=stage, n_a=n_a, n_b=n_b,
        median_a=float(np.median(medians_a)), median_b=float(np.median(medians_b)),
        ratio=ratio, ci_low=ci[0], ci_high=ci[1], p_value=p,
        verdict=decide(ratio, ci, p, alpha, threshold),
        paired=True, n_pairs=n_pairs, test="one-sample-t", threshold=threshold, alpha=alpha, n_boot=n_boot,
        evidence=paired_replicated_evidence(k, host_count(hosts)), processes_a=k, processes_b=k,
        between_process_share=None if vc is None or not math.isfinite(vc.share) else float(vc.share),
    )


def compare_arms_across(
    pairs: Sequence[tuple[Process, Process]], stages: Sequence[str] | None = None, **options
) -> list[Comparison]:
    every = stages_to_compare(stages, *(rows for pair in pairs for rows in pair))
    return [compare_arms_across_stage(pairs, stage, **options) for stage in every]
