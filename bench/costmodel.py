"""Does the cost model predict image sizes it did not see? Leave-one-size-out on a real sweep.

Records one interleaved sweep of square image sizes (`vlmtop run --knob image_size=...`),
then, for every size in turn, fits the per-stage cost model without it and predicts it
(`vlmtop model --holdout`): predicted median with its 95 % interval against the measured
median, per stage. The end sizes are extrapolations, the others interpolations. Prints a
table (or JSON) and the share of predictions whose interval held the measured median.

    python bench/costmodel.py                                  # tiny-qwen2-vl, 7 sizes (~2 min on 2 cores)
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

STAGES = ("vision_ms", "projector_ms", "prefill_ms", "decode_ms", "other_ms", "e2e_ms")


def sweep(db: Path, args) -> None:
    sizes = ",".join(f"{s}x{s}" for s in args.sizes)
    command = [sys.executable, "-m", "vlmtop", "run", "--headless", "--db", str(db), "--model", args.model,
               "--knob", f"image_size={sizes}", "--count", str(args.count), "--max-new-tokens", str(args.max_new_tokens),
               "--warmup", "2"] + (["--device", args.device] if args.device else [])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def model(db: Path, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "vlmtop", "model", "last", "--db", str(db), "--json", *extra],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-qwen2-vl")
    parser.add_argument("--device", default=None)
    parser.add_argument("--sizes", type=lambda t: [int(s) for s in t.split(",")],
                        default=[112, 168, 224, 280, 336, 392, 448], help="square sides in px, comma-separated")
    parser.add_argument("--count", type=int, default=12, help="measured samples per size")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the sweep's database")
    parser.add_argument("--quick", action="store_true", help="smoke sizes: the figures mean little")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.count, args.max_new_tokens = [56, 112, 168, 224], 3, 3
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "sweep.db"
        if not db.exists():
            sweep(db, args)
        full = model(db)
        held = [model(db, "--holdout", f"image_size={s}x{s}")["holdout"] for s in args.sizes]
    result = {"model": args.model, "sizes": args.sizes, "count": args.count, "fit": full["fit"], "holdouts": held}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.model} on {full['device']} ({full['dtype']}): sizes {args.sizes}, {args.count} samples each, "
          f"{args.max_new_tokens} new tokens")
    print(full["fit"]["image_tokens_map"])
    print("\nfit on every size:")
    for stage in full["fit"]["stages"]:
        terms = "; ".join(f"{c['value']:.4g} [{c['ci_low']:.3g}..{c['ci_high']:.3g}] {c['unit']}"
                          for c in stage["coefficients"])
        ratio = stage["residual_to_noise"]
        print(f"  {stage['label']:<12} {terms}; R² {stage['r2']:.2f}, residual {stage['residual_spread']:.0%} "
              f"vs noise {stage['noise']:.0%} ({stage['noise_source']}) = {ratio:.2f}")
    print("\nleave one size out: predicted [95% interval] vs measured median, ms")
    inside = {s: 0 for s in STAGES}
    print(f"  {'held out':<10}" + "".join(f"{s.removesuffix('_ms'):>30}" for s in STAGES))
    for h in held:
        rows = {r["stage"]: r for r in h["stages"]}
        cells = []
        for s in STAGES:
            r = rows.get(s)
            if r is None:
                cells.append(f"{'-':>30}")
                continue
            inside[s] += r["inside"]
            mark = "in " if r["inside"] else "OUT"
            cells.append(f"{r['value']:>8.1f} [{r['low']:.1f}..{r['high']:.1f}] {r['measured']:.1f} {mark}".rjust(30))
        print(f"  {h['value']:<10}" + "".join(cells))
    print("\ninside its interval: " + ", ".join(f"{s.removesuffix('_ms')} {inside[s]}/{len(held)}" for s in STAGES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
