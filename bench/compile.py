"""A compiled model, bare against timed: what the timer costs where people tune latency.

transformers compiles the decode forward when ``generate()`` gets a static cache and a
``compile_config``; the prefill and the vision encoder stay eager. Under the timer the hooks
fold to no-ops inside the compiled decode (a clock read there would break the graph), so the
decode steps are read from the streamer's token marks (``decode_clock == "streamer"``).
This bench checks that the compiled program stays the user's: the graph breaks during the
measured calls (0 expected on both sides) and the wall-clock ratio timed / bare, from
interleaved rounds (AB, BA, ...), each side's median with its spread.

Both sides run inside one ``with StageTimer`` block, as in bench/overhead.py: adding or
removing hooks between calls would change the modules Dynamo guards on and recompile.

    python bench/compile.py                       # tiny-llava, inductor if it builds here, else eager
    python bench/compile.py --backend eager --rounds 40
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import alternating, bare_and_timed, bench_parser, prepare, run

from vlmtop.core import StageTimer, locate_stages


def _graph_breaks() -> int:
    from torch._dynamo.utils import counters

    return sum(counters["graph_break"].values())


def _graphs() -> int:
    """Graphs Dynamo has compiled so far: one more during the measured rounds is a recompile."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def measure(preset: str, backend: str, rounds: int, new_tokens: int, image_size: int, device: str, warm: int) -> dict:
    from transformers import CompileConfig

    prepared = prepare(preset, device, new_tokens, image_size)
    config = CompileConfig(backend=backend, fullgraph=False)
    config._compile_all_devices = True  # transformers compiles on CUDA only unless told
    kwargs = {**prepared.generate_kwargs, "cache_implementation": "static", "compile_config": config}
    timings = []
    with StageTimer(prepared.model, locate_stages(prepared.model)) as timer, torch.inference_mode():
        bare, timed = bare_and_timed(prepared, timer, kwargs, keep=timings)
        compile_start = time.perf_counter()
        for _ in range(warm):  # the first call compiles: both sides share that compiled program
            bare(), timed()
        compile_s = time.perf_counter() - compile_start
        timings.clear()
        breaks_before, graphs_before = _graph_breaks(), _graphs()
        rounds_figures = alternating(bare, timed, rounds)
        graph_breaks, recompiles = _graph_breaks() - breaks_before, _graphs() - graphs_before
    return {
        **prepared.describe(),
        "backend": backend,
        "rounds": rounds,
        "new_tokens": new_tokens,
        "warmup_s": compile_s,
        **rounds_figures,
        "graph_breaks": graph_breaks,  # both sides, the measured rounds only
        "timer_graph_breaks": sum(t.graph_breaks for t in timings),  # those inside timed calls
        "recompiles": recompiles,  # graphs compiled during the measured rounds (0: warm-up was enough)
        "decode_clock": sorted({t.decode_clock for t in timings}),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--preset", default="tiny-llava")
    parser.add_argument("--backend", choices=("auto", "inductor", "eager"), default="auto",
                        help="auto: inductor, and eager where inductor cannot build here (the report says which)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)
    args.warm = 2
    if args.quick:  # the smoke: the eager backend (no code generation), one round of each order
        args.backend, args.rounds, args.warm, args.new_tokens = "eager", 2, 1, 4
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    fallback = None
    if args.backend in ("auto", "inductor"):
        try:
            return {"presets": [measure(args.preset, "inductor", args.rounds, args.new_tokens, args.image_size,
                                        args.device, args.warm)], "fallback": None}
        except Exception as exc:  # no compiler toolchain, or inductor cannot lower a kernel here
            if args.backend == "inductor":
                raise
            fallback = f"inductor failed here ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); eager used"
            torch._dynamo.reset()
    result = measure(args.preset, "eager", args.rounds, args.new_tokens, args.image_size, args.device, args.warm)
    return {"presets": [result], "fallback": fallback}


def show(result: dict, args) -> None:
    for r in result["presets"]:
        print(f"{r['preset']} on {r['device']}, backend {r['backend']}: bare {r['bare_ms']['median']:.2f} ms, "
              f"timed {r['timed_ms']['median']:.2f} ms, ratio {r['ratio']['median']:.4f} "
              f"({r['ratio']['p10']:.3f}..{r['ratio']['p90']:.3f}), graph breaks {r['graph_breaks']}, "
              f"recompiles {r['recompiles']}, "
              f"decode clock {', '.join(r['decode_clock'])}; warm-up (compiling) {r['warmup_s']:.1f} s")
    if result["fallback"]:
        print(result["fallback"])


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
