"""Error rates of compare's verdicts per COMPARISON (any stage), on real worker processes,
on a quiet machine and with CPU burners beside it.

One experiment of P fresh worker processes of the tiny default preset (`vlmtop run --repeat P
--knob max_new_tokens=8,16,17 --threads 1`): every process interleaves the three decode
lengths on the same synthetic samples. Decode length cannot change vision, projector,
prefill or ttft, so on those four stages a `faster` or `slower` is a false claim, and a
comparison with ANY false claim is a false comparison (compare prints all stages at once; a
reader who meets one wrong verdict stops trusting the rest). Decode itself moves by 2x
(16 against 8 tokens) and by +1/15 (17 against 16: one more decode step, +6.7%): those
verdicts measure power, and a `faster` there is the wrong direction.

Every comparison is of all stages, as `vlmtop compare` makes it: their intervals hold
together (each at 1 - 0.05/8). Each condition is measured at every level of evidence compare
uses:

- interleaved: one process, its arms paired by sample (one comparison per process);
- replicated arms: arms paired in each of G processes, the processes' log ratios t-tested
  (disjoint groups of G);
- replicated sides: 3 processes against 3 others, unpaired (Welch t on process log medians;
  seeded draws of 6 processes, so draws share processes);
- one process per side: two processes against the default process-noise floor (disjoint
  pairs).

Conditions: `quiet`, then `loaded`: N busy-loop processes (N = --burners, default 2: as many
as this machine has cores) started by this bench and stopped at its end, whatever happens.

    python bench/verdicts.py                      # 20 processes x 24 blocks per condition (~15 min on 2 cores)
    python bench/verdicts.py --conditions quiet   # one condition
    python bench/verdicts.py --quick --json       # the CI smoke: structure only
"""

from __future__ import annotations

import contextlib
import multiprocessing
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import bench_parser, log_sd_line, run

from vlmtop.sessions.compare import FASTER, SLOWER, compare_rows
from vlmtop.sessions.compare.across_processes import compare_arms_across, compare_sides
from vlmtop.sessions.compare.arms import by_arm
from vlmtop.sessions.compare.noise_floor import DEFAULT_FLOOR, process_sd
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.store import SessionStore

UNTOUCHED = ("vision_ms", "projector_ms", "prefill_ms", "ttft_ms")  # decode length cannot move these
EIGHT, SIXTEEN, SEVENTEEN = "max_new_tokens=8", "max_new_tokens=16", "max_new_tokens=17"
CLAIMS = (FASTER, SLOWER)
GROUP = 4  # processes per replicated-arms comparison
SIDE = 3  # processes per side of a replicated-sides comparison
N_BOOT = 1000


def parse(argv: list[str] | None = None):
    parser = bench_parser(__doc__, device=False)
    parser.add_argument("--processes", type=int, default=20, help="worker processes per condition")
    parser.add_argument("--count", type=int, default=24, help="blocks (samples per arm) per process")
    parser.add_argument("--conditions", default="quiet,loaded", help="quiet, loaded or both (comma list)")
    parser.add_argument("--burners", type=int, default=2, help="busy-loop processes beside a loaded run")
    args = parser.parse_args(argv)
    if args.quick:  # every level and both conditions run, at the smallest sizes: one busy loop
        args.processes, args.count, args.burners = 2, 2, 1
    return args


def _burn() -> None:
    while True:
        pass


@contextlib.contextmanager
def burners(count: int):
    """``count`` processes that keep a core busy each, stopped on the way out, also on error."""
    procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(count)]
    for proc in procs:
        proc.start()
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join()


def record(db: Path, processes: int, count: int) -> tuple[str, list[dict]]:
    """P real worker processes, one after another: the model, and each one's measured rows by arm."""
    command = [sys.executable, "-m", "vlmtop", "run", "--db", str(db), "--repeat", str(processes),
               "--count", str(count), "--knob", "max_new_tokens=8,16,17", "--threads", "1", "--json"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with SessionStore.open(db, create=False) as store:
        infos = store.sessions()
        return infos[0].model, [by_arm(store.samples(info.id)) for info in infos]


def tally(comparisons: list[list]) -> dict:
    """Per comparison (a list of per-stage results): any false claim on an untouched stage."""
    false = [c for c in comparisons if any(r.verdict in CLAIMS for r in c)]
    per_stage = {stage: sum(r.verdict in CLAIMS for c in comparisons for r in c if r.stage == stage)
                 for stage in UNTOUCHED}
    return {"comparisons": len(comparisons), "with_a_false_claim": len(false),
            "all_same": sum(all(r.verdict == "same" for r in c) for c in comparisons), "false_claims_by_stage": per_stage}


def power(results: list) -> dict:
    verdicts = [r.verdict for r in results]
    ratios = [r.ratio for r in results if np.isfinite(r.ratio)]
    return {"comparisons": len(results), "slower": verdicts.count(SLOWER), "faster": verdicts.count(FASTER),
            "inconclusive": verdicts.count("inconclusive"), "same": verdicts.count("same"),
            "ratio_median": float(np.median(ratios)) if ratios else None}


def levels(arms: list[dict]) -> dict:
    """Every comparison of each level of evidence, of every stage as `vlmtop compare` makes it
    (its intervals hold together over all of them); a quick run's few processes make smaller
    groups."""
    options = CompareOptions(n_boot=N_BOOT)
    group, side = min(GROUP, len(arms)), min(SIDE, len(arms) // 2)

    def level(compare_pair, pairs_aa, pairs_2x, pairs_1) -> dict:
        return {"a_a": tally([[r for r in compare_pair(*p) if r.stage in UNTOUCHED] for p in pairs_aa]),
                "decode_2x": power([decode(compare_pair(*p)) for p in pairs_2x]),
                "decode_plus_1_step": power([decode(compare_pair(*p)) for p in pairs_1])}

    out = {"interleaved": level(lambda a, b: compare_rows(a, b, options=options),
                                [(a[EIGHT], a[SIXTEEN]) for a in arms], [(a[EIGHT], a[SIXTEEN]) for a in arms],
                                [(a[SIXTEEN], a[SEVENTEEN]) for a in arms])}
    groups = [arms[i:i + group] for i in range(0, len(arms) - group + 1, group)]
    across = [[(a[EIGHT], a[SIXTEEN]) for a in g] for g in groups]
    out["replicated_arms"] = {"processes": group, **level(
        lambda pairs: compare_arms_across(pairs, options=options), [(p,) for p in across], [(p,) for p in across],
        [([(a[SIXTEEN], a[SEVENTEEN]) for a in g],) for g in groups])}
    rng = np.random.default_rng(0)
    draws = [rng.permutation(len(arms))[: 2 * side] for _ in range(len(arms))]
    sides = [([arms[k] for k in d[:side]], [arms[k] for k in d[side:]]) for d in draws]
    out["replicated_sides"] = {"processes": side, **level(
        lambda a, b: compare_sides(a, b, options=options),
        [([a[EIGHT] for a in left], [a[EIGHT] for a in right]) for left, right in sides],
        [([a[EIGHT] for a in left], [a[SIXTEEN] for a in right]) for left, right in sides],
        [([a[SIXTEEN] for a in left], [a[SEVENTEEN] for a in right]) for left, right in sides])}
    pairs = [(arms[i], arms[i + 1]) for i in range(0, len(arms) - 1, 2)]
    out["one_process_per_side"] = level(
        lambda a, b: compare_sides([a], [b], options=replace(options, floor=DEFAULT_FLOOR)),
        [(a[EIGHT], b[EIGHT]) for a, b in pairs], [(a[EIGHT], b[SIXTEEN]) for a, b in pairs],
        [(a[SIXTEEN], b[SEVENTEEN]) for a, b in pairs])
    # what sessions/compare/noise_floor.py's default stands for: the spread of process medians
    out["process_log_sd"] = process_sd([a[EIGHT] for a in arms], (*UNTOUCHED, "decode_ms", "e2e_ms"))
    return out


def decode(results: list):
    return next(r for r in results if r.stage == "decode_ms")


def figures(args) -> dict:
    result = {"preset": None, "processes": args.processes, "blocks": args.count, "burners": args.burners,
              "replicated_processes": min(GROUP, args.processes), "side_processes": min(SIDE, args.processes // 2),
              "conditions": {}}
    for condition in [c.strip() for c in args.conditions.split(",") if c.strip()]:
        if condition not in ("quiet", "loaded"):
            raise SystemExit(f"unknown condition {condition!r}: quiet or loaded")
        with tempfile.TemporaryDirectory() as folder, burners(args.burners if condition == "loaded" else 0):
            result["preset"], arms = record(Path(folder) / "verdicts.db", args.processes, args.count)
        result["conditions"][condition] = levels(arms)
    return result


LEVEL_NAMES = {
    "interleaved": "interleaved arms, one process",
    "replicated_arms": "arms paired in each of several processes",
    "replicated_sides": "processes against processes (unpaired)",
    "one_process_per_side": "one process per side + default floor",
}


def show(result: dict, args) -> None:
    print(f"{result['processes']} processes of {result['preset']} per condition, {result['blocks']} blocks each")
    for condition, by_level in result["conditions"].items():
        print(f"{condition}:")
        for level, f in by_level.items():
            if level not in LEVEL_NAMES:
                continue
            aa, two, one = f["a_a"], f["decode_2x"], f["decode_plus_1_step"]
            print(f"  {LEVEL_NAMES[level]:<40} A/A: {aa['with_a_false_claim']} / {aa['comparisons']} comparisons "
                  f"with a false claim; decode 2x slower {two['slower']} / {two['comparisons']}; +1 step slower "
                  f"{one['slower']} / {one['comparisons']} (faster {one['faster']})")
        print(log_sd_line(by_level["process_log_sd"]))


if __name__ == "__main__":
    raise SystemExit(run(parse, figures, show))
