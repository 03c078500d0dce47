"""Timer overhead: bare ``generate()`` against ``StageTimer.generate()``, interleaved.

Each round runs the same sample both ways, in alternating order (AB, BA, ...) so drift
and thermal effects hit both sides alike; the figure is the median of the per-round
ratios timed/bare, wall clock measured outside both (the timed side pays for its hooks,
its streamer and resolving its marks). Prints a table; ``--json`` for scripts.

    python bench/overhead.py                       # tiny default preset + a real-size shape
    python bench/overhead.py --preset tiny-llava --rounds 200
"""

from __future__ import annotations

import argparse
import platform

import torch
from _common import alternating, bare_and_timed, bench_parser, prepare, run

from vlmtop.core import StageTimer, locate_stages


def measure(preset: str, rounds: int, new_tokens: int, image_size: int, device: str, warm: int = 3) -> dict:
    prepared = prepare(preset, device, new_tokens, image_size)
    with StageTimer(prepared.model, locate_stages(prepared.model)) as timer, torch.inference_mode():
        bare, timed = bare_and_timed(prepared, timer, prepared.generate_kwargs)
        for _ in range(warm):  # warm-up both paths
            bare(), timed()
        rounds_figures = alternating(bare, timed, rounds)
    return {**prepared.describe(), "rounds": rounds, "new_tokens": new_tokens, **rounds_figures}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--preset", action="append", help="preset(s) to measure (default: tiny + a shape)")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args(argv)
    args.warm = 3
    if args.quick:  # the smoke: one round of each order after one warm-up
        args.preset, args.rounds, args.warm = args.preset or ["tiny-qwen2-vl"], 2, 1
    else:
        shape = "qwen2-vl-2b-shape" if args.device.startswith("cuda") else "smolvlm-256m-shape"
        args.preset = args.preset or ["tiny-qwen2-vl", shape]
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    results = []
    for preset in args.preset:
        # a real-size model on CPU takes seconds per generate: fewer rounds keep it near a minute
        n = args.rounds if preset.startswith("tiny") or args.device != "cpu" else max(6, args.rounds // 6)
        results.append(measure(preset, n, args.new_tokens, args.image_size, args.device, args.warm))
    return {"presets": results}


def show(result: dict, args) -> None:
    results = result["presets"]
    print(f"# timer overhead ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'preset':<22}{'device':<8}{'rounds':>7}{'bare ms':>10}{'timed ms':>10}{'ratio':>8}{'p10..p90':>16}")
    for r in results:
        print(f"{r['preset']:<22}{r['device']:<8}{r['rounds']:>7}{r['bare_ms']['median']:>10.2f}"
              f"{r['timed_ms']['median']:>10.2f}{r['ratio']['median']:>8.4f}   {r['ratio']['p10']:.3f}..{r['ratio']['p90']:.3f}")


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
