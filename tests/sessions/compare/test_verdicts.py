"""Every verdict branch at every level of evidence, on seeded synthetic values.

One rule decides (sessions/compare/verdict.py): `slower`/`faster` when the whole interval lies
beyond the ±2 % band, `same` when it lies inside it, `inconclusive` otherwise, with the
reason and what would settle it. Each level builds its own interval; here each is fed
data made to land in each branch: equivalence, a change beyond the band either way, an
interval straddling an edge, and an interval wider than the band.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlmtop.sessions.compare import FASTER, INCONCLUSIVE, SAME, SLOWER, compare
from vlmtop.sessions.compare.across_processes import compare_arms_across, compare_sides
from vlmtop.sessions.compare.noise_floor import NoiseFloor
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.compare.verdict import decide, percent
from vlmtop.sessions.records import SampleRecord

N_IDS = 40
SIZES = np.linspace(5.0, 15.0, N_IDS)  # the same sample ids, of different sizes, everywhere

# (factor of B, per-sample noise, process offset SD): what lands each branch
BRANCHES = {
    "equivalent": (1.0, 0.005, 0.002),
    "slower": (1.5, 0.01, 0.02),
    "faster": (1 / 1.5, 0.01, 0.02),
    "straddling": (1.02, 0.01, 0.005),  # centred on the edge: any width straddles it
    "wide": (1.0, 0.2, 0.2),
}
EXPECTED = {"equivalent": SAME, "slower": SLOWER, "faster": FASTER, "straddling": INCONCLUSIVE, "wide": INCONCLUSIVE}


def rows(rng, factor=1.0, cv=0.01, offset_sd=0.0, arm=None) -> list[SampleRecord]:
    values = SIZES * np.exp(rng.normal(0.0, offset_sd)) * factor * np.exp(rng.normal(0.0, cv, N_IDS))
    return [SampleRecord("s", i, sample_id=f"id-{i}", arm=arm, prefill_ms=float(v)) for i, v in enumerate(values)]


def values(records) -> tuple[list[float], list[str]]:
    return [r.prefill_ms for r in records], [r.sample_id for r in records]


def check(result, branch: str, unit: str) -> None:
    """The verdict the branch was made to land in; an inconclusive one counts its evidence in ``unit``."""
    assert result.verdict == EXPECTED[branch], (branch, result.ci_low, result.ci_high, result.verdict_note)
    band = (1 / 1.02, 1.02)
    if branch == "equivalent":
        assert band[0] <= result.ci_low and result.ci_high <= band[1] and result.verdict_note is None
    elif branch == "slower":
        assert result.ci_low > band[1]
    elif branch == "faster":
        assert result.ci_high < band[0]
    else:  # the reason, in full and in a few words, and what would settle it
        short = "on edge" if branch == "straddling" else "too wide"
        assert result.verdict_short == short, result.verdict_note
        assert result.verdict_note.startswith("interval ")
        assert ("crosses the +2% edge" if branch == "straddling" else "wider than the ±2% band") in result.verdict_note
        assert result.needed_unit == unit
        assert result.settle is None or result.settle.endswith(f"{unit} would settle it")


# --- the rule itself --------------------------------------------------------------------------


def test_the_rule_on_intervals():
    assert decide(1.1, (1.05, 1.15), 0.02).word == SLOWER
    assert decide(0.9, (0.85, 0.97), 0.02).word == FASTER
    assert decide(1.0, (0.99, 1.01), 0.02).word == SAME
    assert decide(1.0, (1.0, 1.0), 0.0).word == SAME  # a point: both medians 0, no stage
    # exactly on an edge is inside: the band is closed
    assert decide(1.0, (1 / 1.02, 1.02), 0.02).word == SAME
    # straddling the upper edge, 50 pairs: the half-width must fall below the estimate's
    # distance to the edge, and the interval narrows around it as 1/sqrt(n)
    verdict = decide(1.03, (1.01, 1.05), 0.02, n=50, unit="pairs")
    assert (verdict.word, verdict.short) == (INCONCLUSIVE, "on edge")
    assert verdict.reason == "interval 1.010-1.050 crosses the +2% edge"
    half = (math.log(1.05) - math.log(1.01)) / 2
    assert verdict.needed == math.ceil(50 * (half / (math.log(1.03) - math.log(1.02))) ** 2)
    # an estimate inside the band, its interval reaching past the lower edge: `same` is what
    # more evidence would show
    inside = decide(0.99, (0.975, 1.005), 0.02, n=50, unit="pairs")
    assert inside.reason == "interval 0.975-1.005 crosses the -2% edge" and inside.needed > 50
    assert verdict.settle == f"~{verdict.needed} pairs would settle it"
    # wider than the band: to land inside it, the half-width must shrink below the room left
    wide = decide(1.0, (0.91, 1 / 0.91), 0.02, n=3, unit="processes per side")
    assert wide.reason == "interval ±10% is wider than the ±2% band" and wide.short == "too wide"
    assert wide.needed > 3 and wide.settle.endswith("processes per side would settle it")
    # centred on the edge: no amount of data settles it, and the reason says so
    edge = decide(1.02, (1.0, 1.02**2), 0.02, n=10, unit="pairs")
    assert edge.needed is None and edge.settle is None and "more pairs will not settle it" in edge.reason
    # too few values for the interval to hold its level: no claim, whatever it says
    few = decide(1.5, (1.4, 1.6), 0.02, n=3, unit="pairs", min_n=8)
    assert (few.word, few.short, few.needed) == (INCONCLUSIVE, "too few", 8)
    assert few.reason == "only 3 pairs: an interval needs 8 or more" and few.settle == "~8 pairs would settle it"
    # no ratio (a median at or below 0), no interval: never a claim, and never `same`
    assert decide(float("nan"), (float("nan"), float("nan")), 0.02).word == INCONCLUSIVE
    assert decide(1.0, (float("nan"), float("nan")), 0.02).reason == "no interval"


def test_a_comparison_of_a_few_samples_claims_nothing():
    rng = np.random.default_rng(9)
    (a, ids), (b, _) = values(rows(rng)), values(rows(rng, factor=2.0))
    # 5 pairs: unpaired, 5 a side
    small = compare(a[:5], b[:5], paired_keys=(ids[:5], ids[:5]), options=CompareOptions(n_boot=200))
    assert small.ratio > 1.5 and small.verdict == INCONCLUSIVE and small.verdict_short == "too few"
    assert compare(a[:8], b[:8], paired_keys=(ids[:8], ids[:8]), options=CompareOptions(n_boot=200)).verdict == SLOWER


def test_percent_reads_as_people_write_it():
    assert [percent(x) for x in (0.02, 0.025, 0.1, 1.31, -0.04)] == ["2%", "2.5%", "10%", "131%", "4%"]


# --- each level of evidence -------------------------------------------------------------------


@pytest.mark.parametrize("branch", BRANCHES)
def test_paired_in_one_process(branch):
    factor, cv, _ = BRANCHES[branch]
    rng = np.random.default_rng(1)
    (a, ids), (b, _) = values(rows(rng, cv=cv)), values(rows(rng, factor, cv))
    result = compare(a, b, paired_keys=(ids, ids), options=CompareOptions(n_boot=500))
    assert result.paired
    check(result, branch, "pairs")


@pytest.mark.parametrize("branch", BRANCHES)
def test_unpaired_in_one_process(branch):
    factor, cv, _ = BRANCHES[branch]
    rng = np.random.default_rng(2)
    # one size only: unpaired samples of different sizes would be too wide for any branch
    a = 10.0 * np.exp(rng.normal(0.0, cv, 200))
    b = 10.0 * factor * np.exp(rng.normal(0.0, cv, 200))
    result = compare(a, b, options=CompareOptions(n_boot=500))
    assert not result.paired
    check(result, branch, "samples per side")


@pytest.mark.parametrize("branch", BRANCHES)
def test_replicated_processes(branch):
    factor, cv, offset_sd = BRANCHES[branch]
    k = 10 if branch == "equivalent" else 4  # bounding a ratio to ±2 % takes processes
    rng = np.random.default_rng(3)
    side_a = [rows(rng, 1.0, cv, offset_sd) for _ in range(k)]
    side_b = [rows(rng, factor, cv, offset_sd) for _ in range(k)]
    (result,) = compare_sides(side_a, side_b, ["prefill_ms"], CompareOptions(n_boot=300))
    assert result.test == "welch-t" and result.evidence == f"replicated across {2 * k} processes ({k} A, {k} B)"
    check(result, branch, "processes per side")


@pytest.mark.parametrize("branch", BRANCHES)
def test_paired_in_each_of_several_processes(branch):
    factor, cv, offset_sd = BRANCHES[branch]
    rng = np.random.default_rng(4)
    pairs = []
    for _ in range(4):
        base = rows(rng, 1.0, 0.01, offset_sd, arm="a")  # each process its own offset: it cancels
        noise = np.exp(rng.normal(0.0, cv, N_IDS))
        pairs.append((base, [SampleRecord("s", i, sample_id=r.sample_id, arm="b", prefill_ms=r.prefill_ms * factor * n)
                             for i, (r, n) in enumerate(zip(base, noise))]))
    (result,) = compare_arms_across(pairs, ["prefill_ms"], CompareOptions(n_boot=300))
    assert result.test == "one-sample-t" and result.processes_a == 4
    check(result, branch, "processes")


@pytest.mark.parametrize("branch", BRANCHES)
def test_one_process_per_side_against_a_floor(branch):
    factor, cv, offset_sd = BRANCHES[branch]
    rng = np.random.default_rng(5)
    floor = NoiseFloor({"prefill_ms": max(offset_sd, 0.002)}, "synthetic replicates", df=20)
    (result,) = compare_sides([rows(rng, 1.0, cv)], [rows(rng, factor, cv)], ["prefill_ms"],
                              CompareOptions(n_boot=500, floor=floor))
    assert result.evidence == "one process per side" and result.floor_df == 20
    check(result, branch, "processes per side")


def test_replicated_noisy_processes_are_inconclusive_never_same():
    # three processes a side, a real 2x change, processes that scatter by a factor of 2: the
    # interval is too wide to place, and it never reads `same`
    rng = np.random.default_rng(6)
    side_a = [rows(rng, 1.0, 0.05, 0.7) for _ in range(3)]
    side_b = [rows(rng, 2.0, 0.05, 0.7) for _ in range(3)]
    (result,) = compare_sides(side_a, side_b, ["prefill_ms"], CompareOptions(n_boot=300))
    assert result.verdict == INCONCLUSIVE and result.verdict_short == "too wide" and result.ci_low < 1.0 < result.ci_high
