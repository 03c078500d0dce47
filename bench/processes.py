"""False positives of compare across processes and inside one: the old method, the new one,
and interleaved arms; and the process noise that is vlmtop's default floor.

One experiment of P fresh worker processes (`vlmtop run --repeat P`) of the tiny default
preset, every one interleaving `--knob max_new_tokens=8,16` on the same synthetic samples.
Decode length cannot change vision, projector or prefill, so on those three stages every
`faster` or `slower` is a false positive:

(a) the old method: two processes compared sample by sample (the baseline arm of each),
    every sample taken as independent evidence; every pair of processes.
(b) the new method across processes: the same pairs, one process per side, against the
    process-noise floor measured on the OTHER P - 2 processes (leave-two-out: the floor
    never sees the pair it judges); and the replicated comparison of disjoint halves
    (P/2 processes per side).
(c) interleaved arms in one process: max_new_tokens=16 against 8, per process.

(d) a small real effect inside one process: max_new_tokens=17 against 16, one more decode
    step (decode +1/15, about 6.7%; e2e a few percent), per process: how often interleaved
    arms call it `slower` at the default threshold (2%), and the ratio they measure.

Also measured: the log-SD of each stage's process median across the P processes (the
default floor in sessions/compare/noise_floor.py), and whether the real 2x decode change is still
found by (b): one process per side (max_new_tokens=8 of one process against 16 of
another), and between REPLICATED sides (the left half's 8-token arm against the right
half's 16-token arm, replicated, every split).

    python bench/processes.py                 # 8 processes x 24 blocks x 3 arms (about 1 min on 2 cores)
    python bench/processes.py --quick --json  # the CI smoke: structure only
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import bench_parser, log_sd_line, run

from vlmtop.sessions.compare import COMPARE_STAGES, SAME, compare_rows
from vlmtop.sessions.compare.across_processes import compare_sides
from vlmtop.sessions.compare.arms import by_arm, compare_arms_rows
from vlmtop.sessions.compare.noise_floor import process_sd, replicate_floor
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.store import SessionStore

STAGES = ("vision_ms", "projector_ms", "prefill_ms")  # decode length cannot change these
BASE, ARM, ONE_MORE = "max_new_tokens=8", "max_new_tokens=16", "max_new_tokens=17"
SMALL_EFFECT_STAGES = ("decode_ms", "e2e_ms")
N_BOOT = 1000


def parse(argv: list[str] | None = None):
    parser = bench_parser(__doc__, device=False)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--count", type=int, default=24, help="blocks (samples per arm) per process")
    args = parser.parse_args(argv)
    if args.quick:
        args.processes, args.count = 3, 2
    return args


def record(db: Path, processes: int, count: int) -> list[list]:
    """P real worker processes, one after another; each one's measured rows by arm."""
    command = [sys.executable, "-m", "vlmtop", "run", "--db", str(db), "--repeat", str(processes),
               "--count", str(count), "--knob", "max_new_tokens=8,16,17", "--threads", "1", "--json"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = SessionStore.open(db, create=False)
    infos = store.sessions()
    return [(info, store.samples(info.id)) for info in infos]


def rate(verdicts: list[str]) -> dict:
    wrong = sum(v not in (SAME, "inconclusive") for v in verdicts)
    return {"false_positives": wrong, "inconclusive": verdicts.count("inconclusive"),
            "verdicts": len(verdicts), "rate": wrong / len(verdicts) if verdicts else 0.0}


def figures(args) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        sessions = record(Path(folder) / "processes.db", args.processes, args.count)
    arms = [by_arm(rows) for _, rows in sessions]
    base = [a[BASE] for a in arms]
    options = CompareOptions(n_boot=N_BOOT)
    old, floor_verdicts, found = [], [], []
    for i, j in itertools.combinations(range(len(base)), 2):
        old += [r.verdict for r in compare_rows(base[i], base[j], STAGES, options)]
        others = [base[k] for k in range(len(base)) if k not in (i, j)]
        # The other processes' spread, with its degrees of freedom (P - 3), as a floor from
        # replicated sessions in the database would be.
        floor = replicate_floor(others, (*STAGES, "decode_ms"), "the other processes") if len(others) >= 2 else None
        with_floor = replace(options, floor=floor)
        floor_verdicts += [r.verdict for r in compare_sides([base[i]], [base[j]], STAGES, with_floor)]
        decode = compare_sides([base[i]], [arms[j][ARM]], ["decode_ms"], with_floor)[0]
        found.append(decode.verdict)
    halves, decode_halves = [], []
    for left in itertools.combinations(range(len(base)), len(base) // 2):
        right = tuple(k for k in range(len(base)) if k not in left)
        if left < right:  # each split once
            halves += [r.verdict for r in compare_sides([base[k] for k in left], [base[k] for k in right],
                                                          STAGES, options)]
            # the real 2x change between replicated sides: 8 tokens on the left, 16 on the right
            decode_halves.append(compare_sides([base[k] for k in left], [arms[k][ARM] for k in right],
                                               ["decode_ms"], options)[0])
    interleaved = []
    for info, rows in sessions:
        _, pairs = compare_arms_rows(rows, info.settings, STAGES, options)
        interleaved += [r.verdict for p in pairs for r in p.compared]
    # (d) one more decode step, interleaved in the same process: a small effect that is real
    small = {stage: [] for stage in SMALL_EFFECT_STAGES}
    for a in arms:
        for stage, r in zip(SMALL_EFFECT_STAGES, compare_rows(a[ARM], a[ONE_MORE], SMALL_EFFECT_STAGES, options)):
            small[stage].append(r)
    sd = process_sd(base, COMPARE_STAGES)
    return {
        "preset": sessions[0][0].model,
        "processes": len(sessions),
        "blocks": args.count,
        "pairs": len(base) * (len(base) - 1) // 2,
        "old_across_processes": rate(old),
        "floor_one_per_side": rate(floor_verdicts),
        "hierarchical_halves": rate(halves),
        "interleaved_arms": rate(interleaved),
        "decode_2x_found": {"slower": found.count("slower"), "pairs": len(found)},
        "decode_2x_replicated": {
            "slower": sum(r.verdict == "slower" for r in decode_halves), "splits": len(decode_halves),
            "processes_per_side": len(base) // 2,
            "ratio_median": float(np.median([r.ratio for r in decode_halves])) if decode_halves else None,
            "ci_low_min": min((r.ci_low for r in decode_halves), default=None),
        },
        "process_log_sd": sd,
        "one_more_step": {
            stage: {"slower": sum(r.verdict == "slower" for r in results), "processes": len(results),
                    "ratio_median": float(np.median([r.ratio for r in results])),
                    "ratio_min": min(r.ratio for r in results), "ratio_max": max(r.ratio for r in results)}
            for stage, results in small.items()
        },
    }


def show(result: dict, args) -> None:
    print(f"{result['processes']} processes of {result['preset']}, {result['blocks']} blocks each; "
          f"non-`same` verdicts on vision/projector/prefill (false positives):")
    for key, what in (("old_across_processes", "(a) old method, pairs of processes"),
                      ("floor_one_per_side", "(b) one process per side + floor"),
                      ("hierarchical_halves", "(b) replicated, halves"),
                      ("interleaved_arms", "(c) interleaved arms, one process")):
        r = result[key]
        print(f"  {what:<40} {r['false_positives']:>3} / {r['verdicts']:<3} ({r['rate']:.1%}); "
              f"inconclusive {r['inconclusive']}")
    print(f"  decode 8 -> 16 tokens across processes found slower in "
          f"{result['decode_2x_found']['slower']} / {result['decode_2x_found']['pairs']} pairs")
    rep = result["decode_2x_replicated"]
    print(f"  decode 8 -> 16 tokens between replicated halves ({rep['processes_per_side']} processes per side) "
          f"found slower in {rep['slower']} / {rep['splits']} splits (median ratio {rep['ratio_median']:.2f})")
    for stage, one in result["one_more_step"].items():
        print(f"  {stage}: 17 against 16 tokens in one process found slower in {one['slower']} / "
              f"{one['processes']} processes (ratio median {one['ratio_median']:.3f}, "
              f"{one['ratio_min']:.3f}..{one['ratio_max']:.3f})")
    print(log_sd_line(result["process_log_sd"]))


if __name__ == "__main__":
    raise SystemExit(run(parse, figures, show))
