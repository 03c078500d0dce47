"""Does the cost model predict image sizes it did not see? Leave-one-size-out on a real sweep.

Records one interleaved sweep of square image sizes (`vlmtop run --knob image_size=...`),
then, for every size in turn, fits the per-stage cost model without it and predicts it
(`vlmtop model --holdout`): predicted median with its 95 % interval against the measured
median, per stage. The end sizes are extrapolations, the others interpolations. Prints a
table (or JSON) and the share of predictions whose interval held the measured median.

    python bench/costmodel.py                                  # tiny-qwen2-vl, then qwen2-vl-2b-shape
    python bench/costmodel.py --model tiny-qwen2-vl            # one preset (~2 min on 2 cores)
    python bench/costmodel.py --model qwen2-vl-2b-shape --device cuda --count 30
    python bench/costmodel.py --quick                          # smoke sizes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import bench_parser, default_device, run

STAGES = ("vision_ms", "projector_ms", "prefill_ms", "decode_ms", "other_ms", "e2e_ms")


def sweep(db: Path, args) -> None:
    sizes = ",".join(f"{s}x{s}" for s in args.sizes)
    command = [sys.executable, "-m", "vlmtop", "run", "--headless", "--db", str(db), "--model", args.model,
               "--knob", f"image_size={sizes}", "--count", str(args.count), "--max-new-tokens", str(args.max_new_tokens),
               "--warmup", str(args.warmup), "--device", args.device] + (["--dtype", args.dtype] if args.dtype else [])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def model(db: Path, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "vlmtop", "model", "last", "--db", str(db), "--json", *extra],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


# What a full run (run_all) measures: the default tiny preset, and a real-size shape whose image
# tokens grow with the image as Qwen2-VL-2B's do (dynamic resolution: 64 to 256 tokens here).
# The shape runs in its preset's bfloat16 on a GPU; on a CPU in float32, which CPUs without
# bfloat16 matrix units run several times faster (as bench/stage_coverage.py does).
FULL_RUNS = (
    {"model": "tiny-qwen2-vl", "sizes": [112, 168, 224, 280, 336, 392, 448], "count": 12, "max_new_tokens": 8,
     "warmup": 2},
    # Its processor caps images at 448x448 (max_pixels: 256 tokens): larger sizes add no token count.
    {"model": "qwen2-vl-2b-shape", "sizes": [224, 280, 336, 392, 448], "count": 6, "max_new_tokens": 4, "warmup": 2},
)
# The smoke checks the sweep, the fit and every holdout run, not their figures: one warm-up
# per arm and one decode step per sample keep it short (4 sizes stay: a holdout fits on 3).
QUICK_RUN = {"model": "tiny-qwen2-vl", "sizes": [56, 112, 168, 224], "count": 3, "max_new_tokens": 2, "warmup": 1}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, device=False)
    parser.add_argument("--device", default=default_device(), help="cpu or cuda (default: cuda where there is one)")
    parser.add_argument("--dtype", help="float32, bfloat16 or float16 (default: the preset's on cuda, float32 on cpu)")
    parser.add_argument("--model", help="one preset instead of the full run's (tiny-qwen2-vl, qwen2-vl-2b-shape)")
    parser.add_argument("--sizes", type=lambda t: [int(s) for s in t.split(",")], help="square sides in px, comma-separated")
    parser.add_argument("--count", type=int, help="measured samples per size")
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the sweep's database (with --model)")
    return parser.parse_args(argv)


def runs(args) -> list[argparse.Namespace]:
    """One namespace per sweep: the full run's presets, the quick one, or the one asked for."""
    if args.quick:
        chosen = [QUICK_RUN]
    elif args.model:
        chosen = [next((r for r in FULL_RUNS if r["model"] == args.model), {**FULL_RUNS[0], "model": args.model})]
    else:
        chosen = list(FULL_RUNS)
    asked = {k: getattr(args, k) for k in ("sizes", "count", "max_new_tokens") if getattr(args, k) is not None}
    dtype = args.dtype or ("float32" if args.device == "cpu" else None)
    return [argparse.Namespace(**{**run, **asked}, device=args.device, dtype=dtype, db=args.db if args.model else None)
            for run in chosen]


def one_sweep(run: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = run.db or Path(tmp) / "sweep.db"
        if not db.exists():
            sweep(db, run)
        full = model(db)
        held = [model(db, "--holdout", f"image_size={s}x{s}")["holdout"] for s in run.sizes]
    return {"model": run.model, "device": full["device"], "dtype": full["dtype"], "sizes": run.sizes,
            "count": run.count, "max_new_tokens": run.max_new_tokens, "fit": full["fit"], "holdouts": held}


def figures(args) -> dict:
    return {"sweeps": [one_sweep(run) for run in runs(args)]}


def show_sweep(result: dict) -> None:
    print(f"{result['model']} on {result['device']} ({result['dtype']}): sizes {result['sizes']}, "
          f"{result['count']} samples each, {result['max_new_tokens']} new tokens")
    print(result["fit"]["image_tokens_map"])
    print("\nfit on every size:")
    for stage in result["fit"]["stages"]:
        terms = "; ".join(f"{c['value']:.4g} [{c['ci_low']:.3g}..{c['ci_high']:.3g}] {c['unit']}"
                          for c in stage["coefficients"])
        ratio = stage["residual_to_noise"]
        print(f"  {stage['label']:<12} {terms}; R² {stage['r2']:.2f}, residual {stage['residual_spread']:.0%} "
              f"vs noise {stage['noise']:.0%} ({stage['noise_source']}) = {ratio:.2f}")
    held = result["holdouts"]
    print("\nleave one size out: predicted [95% interval] vs measured median, ms")
    print(f"  {'held out':<10}" + "".join(f"{s.removesuffix('_ms'):>30}" for s in STAGES))
    for h in held:
        rows = {r["stage"]: r for r in h["stages"]}
        cells = []
        for s in STAGES:
            r = rows.get(s)
            if r is None:
                cells.append(f"{'-':>30}")
                continue
            mark = "in " if r["inside"] else "OUT"
            cells.append(f"{r['value']:>8.1f} [{r['low']:.1f}..{r['high']:.1f}] {r['measured']:.1f} {mark}".rjust(30))
        print(f"  {h['value']:<10}" + "".join(cells))
    inside = inside_counts(held)
    print("\ninside its interval: " + ", ".join(f"{s.removesuffix('_ms')} {n}/{len(held)}" for s, n in inside.items()))


def inside_counts(held: list[dict], stages: tuple[str, ...] = STAGES) -> dict[str, int]:
    """Per stage, how many held-out sizes had their measured median inside the predicted interval."""
    inside = dict.fromkeys(stages, 0)
    for h in held:
        for r in h["stages"]:
            if r["stage"] in inside:
                inside[r["stage"]] += bool(r["inside"])
    return inside


def show(result: dict, args) -> None:
    for sweep_result in result["sweeps"]:
        show_sweep(sweep_result)
        print()


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
