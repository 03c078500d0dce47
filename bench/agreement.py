"""Agreement of single-pass stage times with two independent references.

1. Isolation: each stage's module called on its own, once warm, with the very arguments it
   received inside ``generate()`` (captured by a pre-hook; the KV cache is a copy taken at
   that moment, so a decode step sees the same cache length). Rounds alternate: one timed
   ``generate()``, then one isolated call of every stage, then the other way round; the figure
   is the ratio of the two medians (goal: within 3%).
2. ``torch.profiler``: the same timed ``generate()`` run under the profiler with its Python
   tracer, which records every ``nn.Module`` call as a range of its own. The stage's range is
   read from the trace (first module's start to last module's end) and set against the span
   the timer's hooks recorded in that very call: both pay the profiler's overhead alike.
3. Clocks: the timer's default (CUDA events, no synchronize inside generate) against its
   ``sync`` mode (synchronize + perf_counter in every hook, the old method), alternating.
   On CUDA this shows what synchronizing costs and how far events and sync agree; on the
   CPU both read perf_counter, so the figure is a control (it should be 1).

    python bench/agreement.py                      # smolvlm-256m-shape on CPU: ~1.3 s per generate
    python bench/agreement.py --quick --json       # the CI smoke: a tiny preset, a few rounds
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections import defaultdict

import torch
from _common import bench_parser, fmt, prepare, run, spread
from torch import nn
from torch.profiler import ProfilerActivity, profile
from transformers.cache_utils import Cache

from vlmtop.core import StageTimer, locate_stages

STAGES = ("vision", "projector", "prefill", "decode_step")


class Captured:
    """Every (args, kwargs) a stage's first and last modules got during one generate()."""

    def __init__(self, stages) -> None:
        self.stages = stages
        self.calls: dict[str, list] = defaultdict(list)

    def __enter__(self) -> "Captured":
        self.handles = []
        watched = {"vision": self.stages.vision, "projector": self.stages.projector}
        for name, stage in watched.items():
            if stage is not None:
                self.handles.append(stage.first.register_forward_pre_hook(self._keeper(name), with_kwargs=True))
        language = self.stages.language
        self.handles.append(language.first.register_forward_pre_hook(self._keeper("language"), with_kwargs=True))
        if language.last is not language.first:
            self.handles.append(language.last.register_forward_pre_hook(self._keeper("head"), with_kwargs=True))
        return self

    def _keeper(self, name):
        def keep(module, args, kwargs):
            # the cache is filled in place by this very call: keep a copy of it as it is now
            kwargs = {k: copy.deepcopy(v) if isinstance(v, Cache) else v for k, v in kwargs.items()}
            self.calls[name].append((args, kwargs))

        return keep

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()


def isolated_callers(prepared, stages, captured: Captured) -> dict:
    """One zero-argument function per stage that runs exactly that stage's modules once."""

    def call(module: nn.Module, args_kwargs):
        args, kwargs = args_kwargs
        kwargs = {k: copy.deepcopy(v) if isinstance(v, Cache) else v for k, v in kwargs.items()}
        return lambda: module(*args, **kwargs)

    def language_step(index: int):
        body = call(stages.language.first, captured.calls["language"][index])
        if "head" not in captured.calls:
            return body
        head = call(stages.language.last, captured.calls["head"][index])
        return lambda: (body(), head())

    callers = {"vision": lambda: call(stages.vision.first, captured.calls["vision"][0])}
    if stages.projector is not None:
        callers["projector"] = lambda: call(stages.projector.first, captured.calls["projector"][0])
    callers["prefill"] = lambda: language_step(0)
    callers["decode_step"] = lambda: language_step(1)
    # each value makes a fresh caller (fresh cache copy, outside the timed region)
    return callers


def nested_projector(stages) -> bool:
    return stages.projector is not None and stages.projector.first in set(stages.vision.first.modules())


def single_pass_figures(timing, nested: bool) -> dict:
    figures = {"vision": timing.vision_ms, "prefill": timing.prefill_ms, "decode_step": statistics.median(timing.decode_steps_ms)}
    if timing.projector_ms or nested:
        figures["projector"] = timing.projector_ms
    return figures


def isolation(prepared, rounds: int, warm_rounds: int = 2) -> dict:
    model, stages = prepared.model, locate_stages(prepared.model)
    nested = nested_projector(stages)
    with torch.inference_mode(), Captured(stages) as captured:
        model.generate(**prepared.inputs, **prepared.generate_kwargs)
    makers = isolated_callers(prepared, stages, captured)

    def timed_isolated() -> dict:
        figures = {}
        for name, make in makers.items():
            run = make()
            prepared.sync()
            start = time.perf_counter()
            run()
            prepared.sync()
            figures[name] = (time.perf_counter() - start) * 1e3
        if nested:  # the timer counts the merger apart from the vision tower that calls it
            figures["vision"] -= figures["projector"]
        return figures

    def timed_single_pass() -> dict:
        with StageTimer(model, stages) as timer:
            timing, _ = timer.generate(**prepared.inputs, **prepared.generate_kwargs)
        return single_pass_figures(timing, nested)

    single, alone = defaultdict(list), defaultdict(list)
    with torch.inference_mode():
        for _ in range(warm_rounds):  # warm both paths
            timed_single_pass(), timed_isolated()
        for index in range(rounds):
            order = (timed_single_pass, timed_isolated) if index % 2 == 0 else (timed_isolated, timed_single_pass)
            for run in order:
                target = single if run is timed_single_pass else alone
                for name, ms in run().items():
                    target[name].append(ms)
    return {
        name: {
            "single_pass_ms": spread(single[name]),
            "isolated_ms": spread(alone[name]),
            "ratio": statistics.median(single[name]) / statistics.median(alone[name]),
        }
        for name in STAGES
        if name in single and name in alone
    }


def trace_ranges(prof, stages) -> dict:
    """Per stage, the durations (ms) of its module ranges in a profiler trace, in call order."""
    by_class = defaultdict(list)
    for event in prof.events():
        if event.name.startswith("nn.Module: "):
            cls = event.name[len("nn.Module: ") :].rsplit("_", 1)[0]
            by_class[cls].append((event.time_range.start / 1e3, event.time_range.end / 1e3))
    for ranges in by_class.values():
        ranges.sort()

    def ranges_of(module: nn.Module) -> list:
        return by_class.get(type(module).__name__, [])

    vision = [end - start for start, end in ranges_of(stages.vision.first)]
    projector = [end - start for start, end in ranges_of(stages.projector.first)] if stages.projector else []
    if nested_projector(stages):
        vision = [v - p for v, p in zip(vision, projector)]
    language = []
    heads = ranges_of(stages.language.last)
    for start, end in ranges_of(stages.language.first):
        if stages.language.last is not stages.language.first:
            # the head is the first module of its class to start after the body has returned
            end = next((h_end for h_start, h_end in heads if h_start >= end), end)
        language.append(end - start)
    return {"vision": vision, "projector": projector, "language": language}


def profiler(prepared, rounds: int) -> dict:
    model, stages = prepared.model, locate_stages(prepared.model)
    nested = nested_projector(stages)
    ratios = defaultdict(list)
    with torch.inference_mode(), StageTimer(model, stages) as timer:
        timer.generate(**prepared.inputs, **prepared.generate_kwargs)  # warm
        for _ in range(rounds):
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if prepared.loaded.device.type == "cuda" else [])
            with profile(activities=activities, with_stack=True) as prof:
                timing, _ = timer.generate(**prepared.inputs, **prepared.generate_kwargs)
            ranges = trace_ranges(prof, stages)
            if len(ranges["language"]) != 1 + len(timing.decode_steps_ms):
                raise SystemExit(f"trace has {len(ranges['language'])} language calls, timer {1 + len(timing.decode_steps_ms)}")
            trace = {
                "vision": sum(ranges["vision"]),
                "prefill": ranges["language"][0],
                "decode_step": statistics.median(ranges["language"][1:]),
            }
            if ranges["projector"]:
                trace["projector"] = sum(ranges["projector"])
            for name, ms in single_pass_figures(timing, nested).items():
                if name in trace and trace[name] > 0:
                    ratios[name].append(ms / trace[name])
    return {name: spread(values) for name, values in ratios.items()}


def clocks(prepared, rounds: int, warm_rounds: int = 2) -> dict:
    """Per stage and e2e: median of sync-mode / events-mode, rounds alternating the order."""
    model, stages = prepared.model, locate_stages(prepared.model)
    nested = nested_projector(stages)
    figures = {"events": defaultdict(list), "sync": defaultdict(list)}
    names = {}
    with torch.inference_mode():
        for index in range(rounds + warm_rounds):
            for mode in ("events", "sync") if index % 2 == 0 else ("sync", "events"):
                with StageTimer(model, stages, mode=mode) as timer:
                    timing, _ = timer.generate(**prepared.inputs, **prepared.generate_kwargs)
                names[mode] = timing.clock
                if index >= warm_rounds:  # the first rounds warm both modes
                    for name, ms in {**single_pass_figures(timing, nested), "e2e": timing.e2e_ms}.items():
                        figures[mode][name].append(ms)
    return {
        "clocks": names,
        "stages": {
            name: {
                "events_ms": spread(figures["events"][name]),
                "sync_ms": spread(figures["sync"][name]),
                "ratio": statistics.median(figures["sync"][name]) / statistics.median(figures["events"][name]),
            }
            for name in figures["events"]
        },
    }


def measure(preset: str, device: str, rounds: int, profiled_rounds: int, new_tokens: int,
            clock_rounds: int | None = None, warm_rounds: int = 2) -> dict:
    prepared = prepare(preset, device, new_tokens)
    return {
        **prepared.describe(),
        "new_tokens": new_tokens,
        "rounds": rounds,
        "profiled_rounds": profiled_rounds,
        "warm_rounds": warm_rounds,
        "isolation": isolation(prepared, rounds, warm_rounds),
        "profiler": profiler(prepared, profiled_rounds),
        "clocks": clocks(prepared, clock_rounds or max(4, rounds // 2), warm_rounds),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--preset", help="default: smolvlm-256m-shape (tiny-llava with --quick)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profiled-rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    args.clock_rounds, args.warm_rounds = None, 2
    if args.quick:
        # The smoke checks every part runs, so every generate() it makes is pure cost (about
        # a second each on a busy 2-core machine): one warm-up round, one round of each, 2
        # new tokens (one decode step is still timed; 8 made each generate ~3x longer).
        args.rounds, args.profiled_rounds, args.clock_rounds, args.warm_rounds = 2, 1, 1, 1
        args.new_tokens = 2
    args.preset = args.preset or ("tiny-llava" if args.quick else "smolvlm-256m-shape")
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    return measure(args.preset, args.device, args.rounds, args.profiled_rounds, args.new_tokens, args.clock_rounds,
                   args.warm_rounds)


def show(result: dict, args) -> None:
    print(f"# agreement: {args.preset} on {result['device']} ({result['dtype']}), {args.rounds} rounds")
    print(f"{'stage':<13}{'single-pass ms':>24}{'isolated ms':>24}{'ratio':>8}{'vs profiler':>22}")
    for name, stage in result["isolation"].items():
        trace = result["profiler"].get(name)
        print(f"{name:<13}{fmt(stage['single_pass_ms']):>24}{fmt(stage['isolated_ms']):>24}"
              f"{stage['ratio']:>8.3f}{fmt(trace, 3) if trace else '-':>22}")
    modes = result["clocks"]
    print(f"# {modes['clocks']['sync']} (sync) against {modes['clocks']['events']} (events)")
    for name, stage in modes["stages"].items():
        print(f"{name:<13}{fmt(stage['events_ms']):>24}{fmt(stage['sync_ms']):>24}{stage['ratio']:>8.3f}")


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
