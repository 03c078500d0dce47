"""Comparisons across worker processes: the process, not the sample, is the unit of evidence.

A process is one draw of memory layout, thread placement, allocator and clock state: its
samples share an offset, so they are not independent evidence about a setting (six
identical sessions were once called different in 13 of 15 pairs). Kalibera & Jones
(ISMM'13): repeat at the level where the variance arises. Hence three cases, each giving an
interval that sessions/compare/verdict.py turns into the verdict:

- Several processes per side: a Welch t interval on the processes' log medians (k - 1
  degrees of freedom per side). A bootstrap that resamples 3 processes has only a handful
  of distinct draws and comes out too narrow; the t interval's width carries the few
  processes. The within-process uncertainty is carried in: a side's variance is never
  taken below the mean bootstrap variance of its processes' own log medians (two processes
  that agree by chance are not evidence of no noise), measured on the samples less each
  sample id's level, since processes that ran the same samples share that spread. When a
  side's processes ran on several hosts, a host is the unit (the mean of its processes).
  The ratio is that of the sides' geometric means of process medians.
- Arms interleaved in every process of an experiment (the strongest design): each process
  gives a paired log ratio (sessions/compare/two_sets.py); a one-sample t interval on them, with
  the within-process variance carried in the same way.
- One process per side: the between-process variance cannot be estimated from the data.
  A process-noise floor measured elsewhere (sessions/compare/noise_floor.py) is added to the
  sample-level uncertainty, with Student-t quantiles for the floor's degrees of freedom
  (an SD from 3 replicates is an estimate, not a constant).

Every result also gives the between-process share of the variance of log latency (after
removing each sample id's own level), when a side has two processes or more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats

from vlmtop.sessions.analysis.bootstrap import resampled_medians
from vlmtop.sessions.analysis.reliability import variance_components
from vlmtop.sessions.compare.columns import Columns
from vlmtop.sessions.compare.terms import (
    COMPARE_STAGES,
    INCONCLUSIVE,
    MIN_INTERVAL_VALUES,
    ONE_PROCESS_PER_SIDE,
    CompareOptions,
    NotEnoughSamplesError,
)
from vlmtop.sessions.compare.two_sets import (
    PROCESS_UNIT,
    Comparison,
    compare,
    judged,
    measured_somewhere,
    per_key_medians,
    stage_values,
    stages_to_compare,
)
from vlmtop.sessions.compare.verdict import NO_FLOOR
from vlmtop.sessions.records import SampleRecord

ONE_PROCESS_NOTE = "1 process per side, and no process-noise floor to judge it by"
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


def _bootstrap_variance(columns: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator,
                        statistic) -> float:
    """The bootstrap variance of ``statistic`` of the resampled medians of ``columns`` (one
    index per resample for all): how uncertain a process's own figure is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        figures = statistic(*resampled_medians(columns, n_boot, rng))
    figures = figures[np.isfinite(figures)]
    return float(np.var(figures, ddof=1)) if figures.size > 1 else 0.0


def _within_variances(cols: list[tuple[np.ndarray, list]], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Each process's sampling variance of its log median, from its log values less each
    sample id's level on this side (the median over the side's processes): processes that
    ran the same samples share the samples' own spread, which is not uncertainty about the
    process. Values <= 0 have no log and are left out."""
    logs, keys = [], []
    for values, ids in cols:
        positive = values > 0
        logs.append(np.log(values[positive]))
        keys.append([i for i, ok in zip(ids, positive) if ok])
    level = per_key_medians(np.concatenate(logs), [k for ks in keys for k in ks])
    out = []
    for x, ks in zip(logs, keys):
        if x.size < 2:
            out.append(0.0)
            continue
        base = np.array([level.get(k, np.nan) if k not in (None, "") else np.nan for k in ks])
        resid = x - np.where(np.isfinite(base), base, np.median(x))
        out.append(_bootstrap_variance((resid,), n_boot, rng, lambda m: m))
    return np.array(out)


def _units(logs: np.ndarray, within: np.ndarray, hosts: Sequence | None) -> tuple[np.ndarray, np.ndarray]:
    """The independent draws of a side: its processes, or its hosts when it spans 2 or more
    (processes on one host share its state: driver, clocks, cooling, neighbours). A host's
    figure is the mean of its processes', its within variance that of the mean."""
    if hosts is None or len(set(hosts)) < 2:
        return logs, within
    names = sorted(set(hosts), key=str)
    members = [np.flatnonzero(np.array([h == name for h in hosts])) for name in names]
    return (np.array([logs[m].mean() for m in members]),
            np.array([within[m].mean() / m.size for m in members]))


def _variance(logs: np.ndarray, within: np.ndarray) -> float | None:
    """A side's variance per unit: the spread of its units' figures, never below what the
    units' own within-process uncertainty implies; None with one unit (no spread to see)."""
    if logs.size < 2:
        return None
    return max(float(np.var(logs, ddof=1)), float(within.mean()))


def _t_interval(estimate: float, parts: Sequence[tuple[float, float]], confidence: float
                ) -> tuple[tuple[float, float], float]:
    """The interval of exp(estimate) and the two-sided p of a log-scale ``estimate`` whose
    variance is the sum of ``parts`` (variance, degrees of freedom): Student's t with the
    Welch-Satterthwaite df of the sum (a part of df None is taken as known)."""
    se2 = sum(v for v, _ in parts)
    if se2 <= 0:
        return (math.exp(estimate), math.exp(estimate)), (1.0 if estimate == 0 else 0.0)
    if any(df is None for _, df in parts):
        dist = stats.norm
    else:
        denominator = sum(v**2 / max(df, 1.0) for v, df in parts)
        dist = stats.t(se2**2 / denominator if denominator > 0 else min(df for _, df in parts))
    se = math.sqrt(se2)
    q = float(dist.ppf(0.5 + confidence / 2.0))
    p = float(2 * dist.sf(abs(estimate) / se))
    return (math.exp(estimate - q * se), math.exp(estimate + q * se)), p


def _sides_interval(la, wa, lb, wb, confidence) -> tuple[tuple[float, float], float, str]:
    """Welch's interval of mean(lb) - mean(la) with 2+ units a side; with one unit on a side,
    that unit is taken to vary as the other side's do (a pooled t on the other's df)."""
    var_a, var_b = _variance(la, wa), _variance(lb, wb)
    estimate = float(lb.mean() - la.mean())
    if var_a is not None and var_b is not None:
        parts, test = [(var_a / la.size, la.size - 1.0), (var_b / lb.size, lb.size - 1.0)], "welch-t"
    else:
        var, df = (var_b, lb.size - 1.0) if var_a is None else (var_a, la.size - 1.0)
        parts, test = [(var * (1.0 / la.size + 1.0 / lb.size), df)], "t"
    ci, p = _t_interval(estimate, parts, confidence)
    return ci, p, test


def compare_sides_stage(
    side_a: Sequence[Process],
    side_b: Sequence[Process],
    stage: str,
    options: CompareOptions = CompareOptions(),
    *,
    hosts: tuple[Sequence, Sequence] | None = None,
) -> Comparison:
    """One stage of side B's processes against side A's (see the module's three cases).
    ``hosts``: each side's host name per process; a side on 2 or more hosts has hosts as
    its units. The interval's level is ``options.confidence`` (sessions/compare/two_sets.py);
    ``options.floor`` serves one process per side."""
    k_a, k_b = len(side_a), len(side_b)
    hosts_a, hosts_b = hosts or (None, None)
    cols_a = [_values(p, stage) for p in side_a]
    cols_b = [_values(p, stage) for p in side_b]
    if k_a == 1 and k_b == 1:
        return _one_process_per_side(cols_a[0], cols_b[0], stage, options)
    for name, cols in (("A", cols_a), ("B", cols_b)):
        for index, (values, _) in enumerate(cols):
            if values.size < 2:
                raise NotEnoughSamplesError(
                    f"{name}'s process {index + 1} has {values.size} measured value"
                    f"{'s' * (values.size != 1)} of {stage}; a comparison needs at least 2 in each process"
                )
    rng, n_boot = np.random.default_rng(options.seed), options.n_boot
    med_a = np.array([np.median(v) for v, _ in cols_a])
    med_b = np.array([np.median(v) for v, _ in cols_b])
    la, lb = _log_medians(med_a), _log_medians(med_b)
    if not (np.isfinite(la).all() and np.isfinite(lb).all()):  # a median <= 0: no ratio
        ratio, ci, p, test = float("nan"), (float("nan"), float("nan")), 1.0, "welch-t"
        units = (k_a, k_b)
    else:
        wa, wb = _within_variances(cols_a, n_boot, rng), _within_variances(cols_b, n_boot, rng)
        ua, ub = _units(la, wa, hosts_a), _units(lb, wb, hosts_b)
        ratio = float(np.exp(ub[0].mean() - ua[0].mean()))
        ci, p, test = _sides_interval(*ua, *ub, options.confidence)
        units = (ua[0].size, ub[0].size)
    share = _between_share(cols_a + cols_b, [0] * k_a + [1] * k_b)
    return judged(Comparison(
        stage=stage,
        n_a=sum(v.size for v, _ in cols_a),
        n_b=sum(v.size for v, _ in cols_b),
        median_a=float(np.exp(np.log(med_a).mean())) if (med_a > 0).all() else float(np.median(med_a)),
        median_b=float(np.exp(np.log(med_b).mean())) if (med_b > 0).all() else float(np.median(med_b)),
        ratio=ratio,
        ci_low=ci[0],
        ci_high=ci[1],
        p_value=p,
        verdict="",
        paired=False,
        test=test,
        threshold=options.threshold,
        alpha=options.alpha,
        n_boot=n_boot,
        evidence=replicated_evidence(k_a, k_b, host_count(hosts_a, hosts_b)),
        processes_a=k_a,
        processes_b=k_b,
        between_process_share=share,
        family=options.family or 1,
    ), n=min(units), unit=PROCESS_UNIT if units == (k_a, k_b) else "hosts per side")


def _one_process_per_side(col_a, col_b, stage: str, options: CompareOptions) -> Comparison:
    (a, ids_a), (b, ids_b) = col_a, col_b
    base = compare(a, b, stage=stage, paired_keys=(ids_a, ids_b) if options.pair else None, options=options,
                   evidence=ONE_PROCESS_PER_SIDE)
    floor = options.floor
    sd = floor.sd(stage) if floor is not None else None
    n_samples = base.n_pairs if base.paired else min(base.n_a, base.n_b)
    if n_samples < MIN_INTERVAL_VALUES:  # the samples' own interval is not to be trusted
        return base
    if sd is None:  # nothing bounds the processes' own difference: no claim either way
        return replace(base, verdict=INCONCLUSIVE, verdict_note=ONE_PROCESS_NOTE, verdict_short=NO_FLOOR,
                       needed=None, needed_unit="")
    out = replace(base, noise_floor=floor.relative(stage), floor_source=floor.source, floor_df=floor.degrees(stage))
    if not all(math.isfinite(x) and x > 0 for x in (base.ratio, base.ci_low, base.ci_high)):
        return judged(out, n=1, unit=PROCESS_UNIT)
    # The sample-level interval's half-width in log space, widened by two processes' noise.
    level = base.level
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    se_samples = (math.log(base.ci_high) - math.log(base.ci_low)) / (2 * z)
    # The floor's SD is estimated (3 replicates: 2 df), not known: Student-t quantiles and
    # p, with the Welch-Satterthwaite df of the sum (the floor's df when it dominates, more
    # when the samples' own spread does). Normal quantiles here called identical settings
    # different in 25 of 150 simulated pairs with a 3-replicate floor.
    samples_df = max(n_samples - 1, 1)
    floor_df = floor.degrees(stage)
    ci, p = _t_interval(math.log(base.ratio), [(se_samples**2, samples_df), (2 * sd**2, floor_df)], level)
    # With k processes per side both parts shrink as 1/k: the estimate counts processes.
    return judged(out, ci=ci, n=1, unit=PROCESS_UNIT, p_value=p, test=f"{base.test} + process floor")


def compare_sides(
    side_a: Sequence[Process], side_b: Sequence[Process], stages: Sequence[str] | None = None,
    options: CompareOptions = CompareOptions(), *, hosts: tuple[Sequence, Sequence] | None = None,
) -> list[Comparison]:
    """One comparison per stage (every stage some process measured, or those named) of two
    sides, a stage at a time: a side of StoredColumns then holds one stage, not all. The
    stages' intervals hold together (``family``: sessions/compare/two_sets.py)."""
    if stages is not None:
        every = stages_to_compare(stages)
    else:
        every = [stage for stage in COMPARE_STAGES if measured_somewhere(stage, (*side_a, *side_b))]
    options = replace(options, family=options.family or len(every))
    return [compare_sides_stage(side_a, side_b, stage, options, hosts=hosts) for stage in every]


# --- arms across replicated processes ------------------------------------------------------------


def compare_arms_across_stage(
    pairs: Sequence[tuple[Process, Process]],
    stage: str,
    options: CompareOptions = CompareOptions(),
    *,
    hosts: Sequence | None = None,
) -> Comparison:
    """``pairs``: per process, (baseline arm rows, arm rows). Paired on sample ids inside each
    process; the processes' log ratios (hosts' means, when ``hosts``, one name per process,
    spans 2 or more) give a one-sample t interval and p (units - 1 degrees of freedom), the
    within-process variance carried in (see the module)."""
    rng, n_boot = np.random.default_rng(options.seed), options.n_boot
    log_ratios, within, medians_a, medians_b, per_pair = [], [], [], [], []
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
        within.append(_bootstrap_variance((d, pa), n_boot, rng, lambda boot_d, boot_a: _log_medians(
            np.where(boot_a > 0, 1.0 + boot_d / boot_a, np.nan))))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_pair.append((np.log(pb / pa), [f"p{index}"] * len(common)))
    lr = np.array(log_ratios)
    units = len(pairs)
    if np.isfinite(lr).all():
        logs, variances = _units(lr, np.array(within), hosts)
        units = logs.size
        ratio = float(np.exp(logs.mean()))
        var = _variance(logs, variances)
        # One unit: its own bootstrap variance, with normal quantiles (nothing to count df on).
        part = (var / units, units - 1.0) if var is not None else (float(variances[0]), None)
        ci, p = _t_interval(float(logs.mean()), [part], options.confidence)
    else:
        ratio, ci, p = float("nan"), (float("nan"), float("nan")), 1.0
    finite = [(v[np.isfinite(v)], g[: int(np.isfinite(v).sum())]) for v, g in per_pair]
    vc = variance_components(np.concatenate([v for v, _ in finite]), [x for _, g in finite for x in g]) if finite else None
    k = len(pairs)
    return judged(Comparison(
        stage=stage, n_a=n_a, n_b=n_b,
        median_a=float(np.median(medians_a)), median_b=float(np.median(medians_b)),
        ratio=ratio, ci_low=ci[0], ci_high=ci[1], p_value=p, verdict="",
        paired=True, n_pairs=n_pairs, test="one-sample-t", threshold=options.threshold, alpha=options.alpha,
        n_boot=n_boot,
        evidence=paired_replicated_evidence(k, host_count(hosts)), processes_a=k, processes_b=k,
        between_process_share=None if vc is None or not math.isfinite(vc.share) else float(vc.share),
        family=options.family or 1,
    ), n=units, unit="processes" if units == k else "hosts")


def compare_arms_across(
    pairs: Sequence[tuple[Process, Process]], stages: Sequence[str] | None = None,
    options: CompareOptions = CompareOptions(), *, hosts: Sequence | None = None,
) -> list[Comparison]:
    """One comparison per stage of arms paired in each process (``options.pair`` and
    ``options.floor`` do not apply: the pairs are the design)."""
    every = stages_to_compare(stages, *(rows for pair in pairs for rows in pair))
    options = replace(options, family=options.family or len(every))
    return [compare_arms_across_stage(pairs, stage, options, hosts=hosts) for stage in every]
