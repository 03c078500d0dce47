"""The separate-pass method against single-pass: separate runs against one timed generate().

On the same samples, rounds alternate the two methods: the separate-pass method (each stage in a
run of its own, decode = total - vision - prefill; ``vlmtop.core.multipass``) and the
single-pass timer. Per stage the figure is the median of the per-sample ratio
multipass / single-pass. The subtracted decode is then set beside what single-pass says it
hides: the generate loop's own work (``other_ms``), which subtraction books as decode.

Second part: the cache policy. Rounds alternate ``cache=keep`` and ``cache=empty``
(``gc.collect`` and, on CUDA, ``torch.cuda.empty_cache()`` before the sample, outside the
timed region) and give each stage's median under both and their ratio.

    python bench/multipass.py                  # smolvlm-256m-shape on CPU
    python bench/multipass.py --quick --json   # the CI smoke
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from itertools import cycle, islice

import torch
from _common import bench_parser, fmt, prepare, run, spread

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.cache_policy import apply_cache_policy
from vlmtop.core.multipass import measure_multipass
from vlmtop.core.samples import synthetic_samples

STAGES = ("vision", "projector", "prefill", "decode", "e2e")


def figures_of(timing) -> dict:
    return {name: getattr(timing, f"{name}_ms") for name in STAGES}


def separate_against_single_pass(prepared, rounds: int, image_sizes) -> dict:
    """Both methods on the same samples, alternating which goes first."""
    model, stages = prepared.model, locate_stages(prepared.model)
    samples = list(islice(synthetic_samples(image_sizes), len(image_sizes)))
    inputs = [prepared.loaded.prepare(s.image(), s.prompt) for s in samples]
    kwargs = prepared.generate_kwargs
    ratios, single_all, seed_all = defaultdict(list), defaultdict(list), defaultdict(list)
    hidden = []  # per round: subtracted decode - single-pass decode, and single-pass other_ms
    with torch.inference_mode(), StageTimer(model, stages) as timer:
        for sample_inputs in inputs:  # warm both paths on every sample
            timer.generate(**sample_inputs, **kwargs), measure_multipass(model, stages, sample_inputs, kwargs)
        for index, sample_inputs in zip(range(rounds), cycle(inputs)):
            if index % 2 == 0:
                timing, _ = timer.generate(**sample_inputs, **kwargs)
                old = measure_multipass(model, stages, sample_inputs, kwargs)
            else:
                old = measure_multipass(model, stages, sample_inputs, kwargs)
                timing, _ = timer.generate(**sample_inputs, **kwargs)
            new = figures_of(timing)
            for name in STAGES:
                single_all[name].append(new[name])
                seed_all[name].append(getattr(old, f"{name}_ms"))
                if new[name] > 0:
                    ratios[name].append(getattr(old, f"{name}_ms") / new[name])
            hidden.append((old.decode_ms - timing.decode_ms, timing.other_ms))
    return {
        "samples": len(inputs),
        "rounds": rounds,
        "stages": {
            name: {
                "single_pass_ms": spread(single_all[name]),
                "multipass_ms": spread(seed_all[name]),
                "ratio": spread(ratios[name]) if ratios[name] else None,
            }
            for name in STAGES
        },
        "decode_excess_ms": spread([excess for excess, _ in hidden]),
        "single_pass_other_ms": spread([other for _, other in hidden]),
    }


def cache_policy_effect(prepared, rounds: int) -> dict:
    model, stages = prepared.model, locate_stages(prepared.model)
    by_policy = {"keep": defaultdict(list), "empty": defaultdict(list)}
    ratios = defaultdict(list)
    action = ""
    with torch.inference_mode(), StageTimer(model, stages) as timer:
        timer.generate(**prepared.inputs, **prepared.generate_kwargs)  # warm
        for index in range(rounds):
            pair = {}
            for policy in ("keep", "empty") if index % 2 == 0 else ("empty", "keep"):
                action = apply_cache_policy(policy, prepared.loaded.device) or action
                timing, _ = timer.generate(**prepared.inputs, **prepared.generate_kwargs)
                pair[policy] = figures_of(timing)
                for name, ms in pair[policy].items():
                    by_policy[policy][name].append(ms)
            for name in STAGES:
                if pair["keep"][name] > 0:
                    ratios[name].append(pair["empty"][name] / pair["keep"][name])
    return {
        "rounds": rounds,
        "action": action,
        "stages": {
            name: {
                "keep_ms": spread(by_policy["keep"][name]),
                "empty_ms": spread(by_policy["empty"][name]),
                "ratio": spread(ratios[name]) if ratios[name] else None,
            }
            for name in STAGES
        },
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--preset", help="default: smolvlm-256m-shape (tiny-llava with --quick)")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    if args.quick:  # one round of each order: the smoke checks the parts run, not the figures
        args.rounds = 2
    args.preset = args.preset or ("tiny-llava" if args.quick else "smolvlm-256m-shape")
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    prepared = prepare(args.preset, args.device, args.new_tokens)
    return {
        **prepared.describe(),
        "new_tokens": args.new_tokens,
        "separate_pass": separate_against_single_pass(prepared, args.rounds, ((224, 224), (320, 240))),
        "cache": cache_policy_effect(prepared, args.rounds),
    }


def show(result: dict, args) -> None:
    preset = args.preset
    separate, cache = result["separate_pass"], result["cache"]
    print(f"# separate-pass vs single-pass: {preset} on {result['device']}, {separate['rounds']} rounds")
    print(f"{'stage':<11}{'single-pass ms':>26}{'multipass ms':>26}{'ratio':>22}")
    for name, f in separate["stages"].items():
        print(f"{name:<11}{fmt(f['single_pass_ms']):>26}{fmt(f['multipass_ms']):>26}{fmt(f['ratio'], 3) if f['ratio'] else '-':>22}")
    print(f"subtracted decode - single-pass decode: {fmt(separate['decode_excess_ms'])} ms; "
          f"single-pass other_ms: {fmt(separate['single_pass_other_ms'])} ms")
    print(f"# cache policy ({cache['action']}), {cache['rounds']} rounds")
    for name, f in cache["stages"].items():
        print(f"{name:<11}{fmt(f['keep_ms']):>26}{fmt(f['empty_ms']):>26}{fmt(f['ratio'], 3) if f['ratio'] else '-':>22}")


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
