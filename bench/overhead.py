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
import json
import platform
import statistics
import sys
import time

import torch

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.models import load_model
from vlmtop.core.samples import synthetic_samples


def measure(preset: str, rounds: int, new_tokens: int, image_size: int, device: str) -> dict:
    loaded = load_model(preset, device=device)
    sample = next(synthetic_samples(((image_size, image_size),)))
    if loaded.family in ("idefics3", "smolvlm") and device == "cpu":
        # SmolVLM splits every image into up to 16 crops of 512 px (~25 s of vision on a
        # 2-core CPU); one crop keeps the real model size and a generate near a few seconds.
        loaded.inputs.processor.image_processor.do_image_splitting = False
    inputs = loaded.prepare(sample.image(), sample.prompt)
    kwargs = loaded.generation_kwargs(new_tokens)
    model = loaded.model
    sync = torch.cuda.synchronize if loaded.device.type == "cuda" else (lambda: None)

    def bare() -> float:
        sync()
        start = time.perf_counter()
        model.generate(**inputs, **kwargs)
        sync()
        return time.perf_counter() - start

    with StageTimer(model, locate_stages(model)) as timer, torch.inference_mode():

        def timed() -> float:
            sync()
            start = time.perf_counter()
            timer.generate(**inputs, **kwargs)  # synchronizes once itself on CUDA
            return time.perf_counter() - start

        for _ in range(3):  # warm-up both paths
            bare(), timed()
        bare_s, timed_s = [], []
        for index in range(rounds):
            if index % 2:
                t, b = timed(), bare()
            else:
                b, t = bare(), timed()
            bare_s.append(b)
            timed_s.append(t)
    ratios = [t / b for t, b in zip(timed_s, bare_s)]
    return {
        "preset": preset,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).replace("torch.", ""),
        "rounds": rounds,
        "new_tokens": new_tokens,
        "bare_ms_median": statistics.median(bare_s) * 1e3,
        "timed_ms_median": statistics.median(timed_s) * 1e3,
        "ratio_median": statistics.median(ratios),
        "ratio_p10": _quantile(ratios, 0.1),
        "ratio_p90": _quantile(ratios, 0.9),
    }


def _quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="preset(s) to measure (default: tiny + a shape)")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="smoke run: few rounds, tiny preset only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        presets, rounds = args.preset or ["tiny-qwen2-vl"], 6
    else:
        shape = "qwen2-vl-2b-shape" if args.device.startswith("cuda") else "smolvlm-256m-shape"
        presets, rounds = args.preset or ["tiny-qwen2-vl", shape], args.rounds
    results = []
    for preset in presets:
        # a real-size model on CPU takes seconds per generate: fewer rounds keep it near a minute
        n = rounds if preset.startswith("tiny") or args.device != "cpu" else max(6, rounds // 6)
        results.append(measure(preset, n, args.new_tokens, args.image_size, args.device))
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return 0
    print(f"# timer overhead ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'preset':<22}{'device':<8}{'rounds':>7}{'bare ms':>10}{'timed ms':>10}{'ratio':>8}{'p10..p90':>16}")
    for r in results:
        print(f"{r['preset']:<22}{r['device']:<8}{r['rounds']:>7}{r['bare_ms_median']:>10.2f}"
              f"{r['timed_ms_median']:>10.2f}{r['ratio_median']:>8.4f}   {r['ratio_p10']:.3f}..{r['ratio_p90']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
