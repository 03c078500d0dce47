"""Run every benchmark and write the report, docs/benchmarks.md (raw figures: docs/benchmarks.json).

Each bench runs in a process of its own (its own memory and threads, nothing shared with the
one before) and hands back JSON; this script only renders. Figures are medians with their
10th..90th percentile spread; A/B ratios come from interleaved rounds of one run.

`--quick` is the smoke run the tests do (every bench at its smallest; figures not meaningful):
see bench/_runner.py for how it is laid out for speed.

    python bench/run_all.py                        # the full suite (about 35 min on 2 cores)
    python bench/run_all.py --only agreement       # rerun one bench, keep the others' figures
    python bench/run_all.py --render               # re-render the report from the JSON
    python bench/run_all.py --quick --out /tmp/b.md   # the smoke run the tests do
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import machine
from _runner import BENCHES as RUNNER_BENCHES
from _runner import ROOT, run_bench, run_quick
from _sections_system import costmodel, dashboard, processes, ray_overhead, store, verdicts, worker
from _sections_timing import agreement, cache_policy, compiled, coverage, multipass, overhead

# compile last: it leaves Dynamo's caches in the process that runs the quick benches
BENCHES = RUNNER_BENCHES + ("compile",)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes: checks the suite runs, figures are not meaningful")
    parser.add_argument("--only", action="append", choices=BENCHES, help="rerun these benches only")
    parser.add_argument("--render", action="store_true", help="do not run anything: render the saved JSON")
    parser.add_argument("--out", type=Path, help="report path (default docs/benchmarks.md)")
    args = parser.parse_args()
    out = args.out or ROOT / "docs" / "benchmarks.md"
    raw = out.with_suffix(".json")
    results = json.loads(raw.read_text()) if (args.render or args.only) and raw.exists() else {}
    if not args.render:
        print(f"running {', '.join(args.only or BENCHES)}{' (quick)' if args.quick else ''}:", file=sys.stderr)
        names = list(args.only or BENCHES)
        if args.quick:
            results.update(run_quick(names))
        else:
            for name in names:
                results[name] = run_bench(name, quick=False)
        results["machine"] = machine()
        results["quick"] = args.quick
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(results, indent=2) + "\n")
    missing = [name for name in BENCHES if name not in results]
    if missing:
        raise SystemExit(f"no figures for {', '.join(missing)} in {raw}: run without --render/--only first")
    out.write_text(render(results))
    print(f"wrote {out} and {raw}", file=sys.stderr)
    return 0


# --- the report -------------------------------------------------------------------------


def render(results: dict) -> str:
    m = results["machine"]
    hardware = f"{m['cpu']}, {m['cores']} cores" + (f", {m['gpu']}" if m["gpu"] else "")
    sections = [
        "# Benchmarks",
        "",
        "Regenerate with `python bench/run_all.py` (about 35 minutes on 2 cores); each bench also runs "
        "alone (`python bench/<name>.py --help`). Every figure is a median with its 10th..90th percentile "
        "spread in brackets; every A/B ratio comes from rounds that alternate which side goes first, in one run.",
        "",
        f"- date: {m['date']}" + ("  **(quick smoke run: figures are not meaningful)**" if results.get("quick") else ""),
        f"- machine: {hardware}; torch threads: {m['torch_threads']}",
        f"- versions: Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, vlmtop {m['vlmtop']}",
        "",
        gpu_note(m),
        "",
        agreement(results["agreement"]),
        multipass(results["multipass"]),
        cache_policy(results["multipass"]),
        coverage(results["stage_coverage"]),
        overhead(results["overhead"]),
        compiled(results["compile"]),
        worker(results["worker"]),
        dashboard(results["dashboard"]),
        store(results["store"]),
        processes(results["processes"]),
        verdicts(results["verdicts"]),
        costmodel(results["costmodel"]),
        ray_overhead(results["ray_overhead"]),
    ]
    return "\n".join(sections).rstrip() + "\n"


def gpu_note(m: dict) -> str:
    if m["gpu"]:
        return f"Figures were taken on {m['gpu']}: timings use CUDA events unless a table says otherwise."
    return (
        "**Every figure below is from the CPU.** No GPU was available to this run, so the CUDA path "
        "(CUDA events against synchronized timings, `torch.cuda.empty_cache()`, real-size shape presets in "
        "bfloat16) is not measured here. On a GPU machine, `python bench/run_all.py` runs the same suite on "
        "CUDA and this note goes away."
    )


if __name__ == "__main__":
    raise SystemExit(main())
