"""Run every benchmark and write the report, docs/benchmarks.md (raw figures: docs/benchmarks.json).

Each bench runs in a process of its own (its own memory and threads, nothing shared with the
one before) and hands back JSON; this script only renders. Figures are medians with their
10th..90th percentile spread; A/B ratios come from interleaved rounds of one run.

`--quick` is the smoke run the tests do (every bench at its smallest; figures not meaningful):
see bench/_runner.py for how it is laid out for speed.

    python bench/run_all.py                        # the full suite (about 10 min on 2 cores)
    python bench/run_all.py --only agreement       # rerun one bench, keep the others' figures
    python bench/run_all.py --render               # re-render the report from the JSON
    python bench/run_all.py --quick --out /tmp/b.md   # the smoke run the tests do
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import fmt, machine
from _runner import BENCHES, ROOT, run_bench, run_quick


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
        "Regenerate with `python bench/run_all.py` (about 10 minutes on 2 cores); each bench also runs "
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
        coverage(results["coverage"]),
        overhead(results["overhead"]),
        worker(results["worker"]),
        dashboard(results["dashboard"]),
        store(results["store"]),
        processes(results["processes"]),
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


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def agreement(a: dict) -> str:
    rows = [
        [name, fmt(f["single_pass_ms"]), fmt(f["isolated_ms"]), f"{f['ratio']:.3f}",
         fmt(a["profiler"][name], 4) if name in a["profiler"] else "-"]
        for name, f in a["isolation"].items()
    ]
    within = [name for name, f in a["isolation"].items() if abs(f["ratio"] - 1) <= 0.03]
    outside = [name for name in a["isolation"] if name not in within]
    verdict = f"Within 3% of isolation: {', '.join(within) or 'none'}." + (
        f" Outside: {', '.join(outside)} (see below)." if outside else "")
    return "\n".join([
        "## Agreement with independent references",
        "",
        f"`bench/agreement.py`: {a['preset']} on {a['device']} ({a['dtype']}), {a['new_tokens']} new tokens, "
        f"{a['rounds']} interleaved rounds; {a['profiled_rounds']} profiled generates.",
        "",
        "- **Isolation**: each stage's modules called alone, once warm, with the arguments they got inside "
        "`generate()` (captured by a pre-hook; a decode step gets a copy of the KV cache as it was). "
        "Ratio = single-pass median / isolated median.",
        "- **Profiler**: the same timed `generate()` under `torch.profiler` with its Python tracer, which "
        "records every `nn.Module` call as a range; the stage's range (first module's start to last module's "
        "end) against the span the timer's hooks recorded in that very call. Ratio = timer / trace.",
        "",
        table(["stage", "single-pass ms", "isolated ms", "ratio", "timer / profiler"], rows),
        "",
        verdict + " The profiler agrees closest because it times the same call: its small shortfall below 1 is "
        "the tracer's own bookkeeping inside each module range, outside the hooks. A stage of a few "
        "milliseconds right after a long one (the projector after the vision encoder) differs most from its "
        "isolated call in relative terms: inside `generate()` it starts on cold caches left by the encoder, "
        "alone it runs back to back with itself; the difference is well under a millisecond.",
        "",
        clock_modes(a["clocks"]),
    ])


def clock_modes(c: dict) -> str:
    rows = [[name, fmt(f["events_ms"]), fmt(f["sync_ms"]), f"{f['ratio']:.3f}"] for name, f in c["stages"].items()]
    events, sync = c["clocks"]["events"], c["clocks"]["sync"]
    if events == sync:  # the CPU: both modes read perf_counter
        note = (f"On the CPU both modes read `{events}`, so this is a control: the ratios show the noise of "
                "two interleaved sets of the same measurement. On CUDA the same table compares CUDA events "
                "with synchronize + perf_counter in every hook.")
    else:
        note = (f"`{sync}` synchronizes in every hook, `{events}` records events and synchronizes once after "
                "`generate()`; a ratio above 1 is the observer effect of synchronizing.")
    return "\n".join([
        "### Timing modes: events against sync",
        "",
        table(["stage", f"events ({events}) ms", f"sync ({sync}) ms", "sync / events"], rows),
        "",
        note,
        "",
    ])


def multipass(r: dict) -> str:
    seed = r["seed"]
    rows = [
        [name, fmt(f["single_pass_ms"]), fmt(f["multipass_ms"]), fmt(f["ratio"], 3) if f["ratio"] else "-"]
        for name, f in seed["stages"].items()
    ]
    return "\n".join([
        "## The seed's multipass method against single-pass",
        "",
        f"`bench/multipass.py`: {r['preset']} on {r['device']} ({r['dtype']}), {seed['samples']} samples, "
        f"{seed['rounds']} rounds alternating the two methods on the same samples. Ratio = multipass / single-pass, "
        "per sample.",
        "",
        table(["stage", "single-pass ms", "multipass ms", "ratio"], rows),
        "",
        f"The seed's prefill is {seed['stages']['prefill']['ratio']['median']:.2f}x the prefill inside `generate()`. "
        "It is timed as the seed did (vlmtop.core.multipass): in a separate `model()` forward, from the forward hook "
        "of the first decoder block to the forward hook of the last, so it leaves out the embeddings, block 0 "
        "itself, the final norm and `lm_head` (biased low), while that forward computes logits for every prompt "
        "position. Vision and prefill are means of 3 runs, as in the seed. Decode by subtraction (e2e - vision - "
        "prefill of other runs) then inherits every error of the runs it subtracts: per sample it is off from the "
        f"measured decode by {fmt(seed['decode_excess_ms'])} ms (p10..p90), while the measured decode of the same "
        f"samples spreads {seed['stages']['decode']['single_pass_ms']['p10']:.1f}.."
        f"{seed['stages']['decode']['single_pass_ms']['p90']:.1f} ms. "
        f"It also books as decode the {fmt(seed['single_pass_other_ms'])} ms of `generate()`'s own work that "
        "single-pass reports as `other_ms`. The seed also needed several runs per sample where single-pass needs "
        "one, and on CUDA called `empty_cache()` inside the timed total.",
        "",
    ])


def cache_policy(r: dict) -> str:
    cache = r["cache"]
    rows = [
        [name, fmt(f["keep_ms"]), fmt(f["empty_ms"]), fmt(f["ratio"], 3) if f["ratio"] else "-"]
        for name, f in cache["stages"].items()
    ]
    return "\n".join([
        "## Effect of the cache policy on each stage",
        "",
        f"`bench/multipass.py`: {cache['rounds']} rounds alternating `cache=keep` and `cache=empty` "
        f"(`{cache['action']}` before the sample, outside the timed region). Ratio = empty / keep, per round.",
        "",
        table(["stage", "keep ms", "empty ms", "ratio"], rows),
        "",
        cache_verdict(cache),
        "",
    ])


def cache_verdict(cache: dict) -> str:
    largest = max(abs(f["ratio"]["median"] - 1) for f in cache["stages"].values() if f["ratio"])
    if "empty_cache" in cache["action"]:
        return (f"The largest change of a stage median is {largest:.1%}. Emptying the CUDA cache makes the next "
                "sample's first allocations go back to `cudaMalloc`.")
    return (f"On the CPU there is no CUDA caching allocator, so `empty` is only a `gc.collect()`; the largest change "
            f"of a stage median is {largest:.1%}. The CUDA side of this policy is not measured in this report.")


def coverage(r: dict) -> str:
    rows = [
        [p["preset"], str(p["prompt_tokens"]), fmt(p["e2e_ms"]), fmt(p["other_ms"]), f"{p['other_share']['median']:.1%}",
         *(f"{p['parts_ms'][part]:.2f}" for part in ("setup", "merge", "loop", "tail")), f"{p['loop_ms_per_step']:.3f}",
         f"{p['vocab']:,}", f"{p['logits_step_ms']:.3f}"]
        for p in r["presets"]
    ]
    return "\n".join([
        "## Coverage: `other_ms` for every built-in preset",
        "",
        f"`bench/coverage.py`: {r['presets'][0]['new_tokens']} new tokens, one 224x224 sample, "
        f"{r['presets'][0]['device']} (tiny presets float32). `other_ms` = e2e - (vision + projector + "
        "prefill + decode) is not an error term but `generate()`'s own work; the spans say where it sits: "
        "**setup** before the first stage, **merge** between stages up to the end of prefill, **loop** between "
        "decode steps, **tail** after the last one.",
        "",
        table(["preset", "prompt tokens", "e2e ms", "other ms", "share", "setup", "merge", "loop", "tail", "loop/step",
               "vocab", "logits/step"], rows),
        "",
        "Where the share is large it is because the model is tiny, not because time is lost: the tiny presets' "
        "stages take a millisecond or two, while `generate()`'s own Python work (argument checks, cache "
        "creation, and per step the logits, a stopping check and the next step's inputs: the loop column) "
        "does not shrink with the model, so at a real size (the shape rows) it is a percent or two of e2e. "
        "Part of the loop grows with the vocabulary: per step `generate()` copies the last logits to float32, "
        "masks EOS over the whole vocabulary (fixed length) and takes the argmax; `logits/step` is that work "
        "timed alone at the preset's vocabulary size. The rest is the per-step Python of `generate()` and of "
        "the model's wrapper around the text model (cache and mask bookkeeping, position ids, the stopping "
        "check). Gemma3 stands out because its wrapper builds the attention masks (sliding "
        "window, and bidirectional blocks over the image tokens) in Python before each call of the text "
        "model, outside the language span: at prefill (merge) and again at every step (loop). "
        + ("" if any(p["device"].startswith("cuda") for p in r["presets"]) else
           "On the CPU only the shapes that run in float32 within 24 GiB in seconds are measured; "
           "llava-1.5-7b, gemma3-4b and molmo2-8b shapes need a GPU (`--device cuda` runs them all in bfloat16)."),
        "",
    ])


def overhead(r: dict) -> str:
    rows = [[p["preset"], p["device"], str(p["rounds"]), fmt(p["bare_ms"]), fmt(p["timed_ms"]), fmt(p["ratio"], 4)]
            for p in r["presets"]]
    return "\n".join([
        "## Timer overhead",
        "",
        "`bench/overhead.py`: bare `model.generate()` against `StageTimer.generate()` on the same sample, in "
        "alternating order; ratio = timed / bare per round (the timed side pays for its hooks, its TTFT "
        "streamer and resolving its marks).",
        "",
        table(["preset", "device", "rounds", "bare ms", "timed ms", "ratio"], rows),
        "",
    ])


def worker(r: dict) -> str:
    run, parts = r["run"], r["parts_ms"]
    rows = [["cycle (finished sample to finished sample)", fmt(run["cycle_ms"])],
            ["e2e of the sample", fmt(run["e2e_ms"])],
            ["outside generate() = cycle - e2e", fmt(run["outside_ms"])]]
    labels = {"image": "make the synthetic image", "prepare": "processor: image + prompt to tensors",
              "write_sample": "write the sample (one transaction)", "control_poll": "poll for controls (one query)"}
    rows += [[f"&nbsp;&nbsp;{labels[name]} (alone)", fmt(figure, 3)] for name, figure in parts.items()]
    return "\n".join([
        "## Worker throughput and its own cost",
        "",
        f"`bench/worker.py`: a headless worker records {run['samples']} samples of {r['preset']} "
        f"({r['new_tokens']} new tokens, no warm-up): **{run['samples_per_s']:.1f} samples/s**. Its cost outside "
        "`generate()` is the cycle minus e2e; its parts are then timed alone in the same process (ms).",
        "",
        table(["per sample", "ms"], rows),
        "",
        "Making the input (the synthetic image, the processor) is most of what the worker adds; vlmtop's own "
        "bookkeeping (the database write and the control poll) is a fraction of a millisecond, and none of it "
        "is inside the timed region.",
        "",
    ])


def dashboard(r: dict) -> str:
    lag, per = r["lag"], r["perturbation"]
    cpu = r.get("cpu")  # absent where tmux or /proc is missing
    lines = [
        "## Dashboard: its own CPU, perturbation and lag",
        "",
        "`bench/dashboard.py`. **CPU**: the dashboard process (`vlmtop attach` in a tmux pane of the size shown) "
        "on a session whose writer is idle, paused, or committing 50 samples/s; share of one core over "
        f"{cpu['measure_s'] if cpu else '-'} s from /proc (goal under 2% idle or paused; it reads the database every "
        "0.2 s off the UI thread and redraws only on change). **Perturbation**: the same worker run (tiny default "
        "preset, one torch thread) recorded with and without a dashboard attached in another process, "
        "alternating; ratio = median e2e attached / headless per round (goal at most 1.02). **Lag**: a writer "
        f"commits rows at {lag['rate_rows_per_s']:.0f} rows/s while the dashboard tails them; the age of each row "
        "once the update that brought it is drawn (goal under 500 ms).",
        "",
    ]
    if cpu:
        shares = {(x["version"], x["scenario"], x["size"]): x["cpu_share"] for x in cpu["results"]}
        versions = sorted({v for v, _, _ in shares}, key=lambda v: v != "previous")  # previous first
        cases = list(dict.fromkeys((s, z) for _, s, z in shares))
        lines += [table(["session", "terminal"] + [f"{v} version, % of a core" for v in versions], [
            [scenario, size] + [f"{shares[(v, scenario, size)]:.1%}" if (v, scenario, size) in shares else "-"
                                for v in versions]
            for scenario, size in cases
        ]), ""]
    lines += [
        table(["figure", "value"], [
            ["e2e headless, ms", f"{per['e2e_ms_headless_median']:.2f}"],
            ["e2e with dashboard attached, ms", f"{per['e2e_ms_attached_median']:.2f}"],
            [f"ratio over {per['rounds']} rounds of {per['samples_per_session']} samples",
             f"{per['ratio_median']:.4f} ({per['ratio_min']:.4f}..{per['ratio_max']:.4f}, min..max)"],
            ["lag from commit to screen, ms", f"median {lag['lag_ms_median']:.0f}, p99 {lag['lag_ms_p99']:.0f}, "
             f"max {lag['lag_ms_max']:.0f}"],
        ]),
        "",
        perturbation_verdict(per),
        "",
    ]
    return "\n".join(lines)


def perturbation_verdict(per: dict) -> str:
    if per["ratio_max"] < 1:
        return ("The goal is met. Attached was a little faster in every round: the worker runs one torch thread "
                "on 2 cores, and the dashboard's process on the other core most likely keeps the CPU out of its "
                "idle states; it is not a speed-up vlmtop causes, and it is why the goal is a bound, not 1.")
    met = "met" if per["ratio_median"] <= per["goal"] else "NOT met"
    return (f"The goal is {met}. On 2 cores the dashboard and the worker share the CPU; on a GPU server the "
            "measured work is on the device and a core for the dashboard matters less.")


def store(r: dict) -> str:
    replay, tail, write = r["replay"], r["tail"], r["write_us"]
    return "\n".join([
        "## Session database",
        "",
        f"`bench/store.py` (details in [store.md](store.md)): a {r['rows']:,}-sample session, realistic rows "
        "(16 new tokens).",
        "",
        table(["figure", "value"], [
            ["write_sample, synchronous=NORMAL (vlmtop)", f"{write['NORMAL']:.0f} µs"],
            ["write_sample, synchronous=FULL", f"{write['FULL']:.0f} µs"],
            ["bytes per sample", f"{r['bytes_per_sample']:.0f}"],
            ["replay: open + show sample 0", f"{replay['open_s']:.3f} s"],
            ["replay: open + show the last 2000", f"{replay['open_end_s']:.3f} s"],
            ["replay: seek far", f"{replay['seek_ms']:.1f} ms"],
            ["live tail poll, 0 / 10 new rows", f"{tail['poll0_us']:.0f} / {tail['poll10_us']:.0f} µs"],
        ]),
        "",
    ])


def processes(r: dict) -> str:
    def row(key: str, what: str) -> list[str]:
        f = r[key]
        return [what, f"{f['false_positives']} / {f['verdicts']}", f"{f['rate']:.1%}", str(f["inconclusive"])]

    found = r["decode_2x_found"]
    sd = ", ".join(f"{k.removesuffix('_ms')} {v:.3f}" for k, v in r["process_log_sd"].items())
    return "\n".join([
        "## False positives: across processes and inside one",
        "",
        f"`bench/processes.py`: {r['processes']} worker processes of {r['preset']} (`vlmtop run --repeat "
        f"{r['processes']} --knob max_new_tokens=8,16`, {r['blocks']} blocks each, 1 thread). Decode length cannot "
        "change vision, projector or prefill, so every verdict other than `same` on them is a false positive "
        f"(3 stages per comparison; {r['pairs']} pairs of processes).",
        "",
        table(["method", "false positives", "rate", "inconclusive"], [
            row("old_across_processes", "(a) old: two processes, every sample independent"),
            row("floor_one_per_side", "(b) one process per side, process-noise floor (leave-two-out)"),
            row("hierarchical_halves", "(b) hierarchical bootstrap, half the processes per side (every split)"),
            row("interleaved_arms", "(c) interleaved arms in one process (16 vs 8 tokens)"),
        ]),
        "",
        "The splits into halves share processes, so they are not independent draws; the pairs share them "
        f"too. A real change is still found: decode with 16 against 8 new tokens, one process per side with the "
        f"floor, is `slower` in {found['slower']} of {found['pairs']} pairs. Log-SD of a stage's process median "
        f"across the processes (the default floor's source, sessions/noise_floor.py): {sd}.",
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
