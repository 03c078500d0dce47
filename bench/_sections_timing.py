"""Report sections on what the timer measures: agreement with independent references, the separate-pass
method, the cache policy, coverage of `other_ms`, and the timer's overhead (plain and
compiled).

Each function turns one bench's JSON (see bench/<name>.py) into a Markdown section.
"""

from __future__ import annotations

from _common import fmt, table


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
    separate = r["separate_pass"]
    rows = [
        [name, fmt(f["single_pass_ms"]), fmt(f["multipass_ms"]), fmt(f["ratio"], 3) if f["ratio"] else "-"]
        for name, f in separate["stages"].items()
    ]
    return "\n".join([
        "## The separate-pass method against single-pass",
        "",
        f"`bench/multipass.py`: {r['preset']} on {r['device']} ({r['dtype']}), {separate['samples']} samples, "
        f"{separate['rounds']} rounds alternating the two methods on the same samples. Ratio = multipass / single-pass, "
        "per sample.",
        "",
        table(["stage", "single-pass ms", "multipass ms", "ratio"], rows),
        "",
        f"The separate-pass prefill is {separate['stages']['prefill']['ratio']['median']:.2f}x the prefill inside `generate()`. "
        "It is timed as that method does (vlmtop.core.multipass): in a separate `model()` forward, from the forward hook "
        "of the first decoder block to the forward hook of the last, so it leaves out the embeddings, block 0 "
        "itself, the final norm and `lm_head` (biased low), while that forward computes logits for every prompt "
        "position. Vision and prefill are means of 3 runs, as the method has it. Decode by subtraction (e2e - vision - "
        "prefill of other runs) then inherits every error of the runs it subtracts: per sample it is off from the "
        f"measured decode by {fmt(separate['decode_excess_ms'])} ms (p10..p90), while the measured decode of the same "
        f"samples spreads {separate['stages']['decode']['single_pass_ms']['p10']:.1f}.."
        f"{separate['stages']['decode']['single_pass_ms']['p90']:.1f} ms. "
        f"It also books as decode the {fmt(separate['single_pass_other_ms'])} ms of `generate()`'s own work that "
        "single-pass reports as `other_ms`. The method also needs several runs per sample where single-pass needs "
        "one, and on CUDA calls `empty_cache()` inside the timed total.",
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
        f"`bench/stage_coverage.py`: {r['presets'][0]['new_tokens']} new tokens, one 224x224 sample, "
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


def compiled(r: dict) -> str:
    rows = [[p["preset"], p["device"], p["backend"], str(p["rounds"]), fmt(p["bare_ms"]), fmt(p["timed_ms"]),
             fmt(p["ratio"], 4), str(p["graph_breaks"]), str(p["recompiles"]), ", ".join(p["decode_clock"])]
            for p in r["presets"]]
    backend = r["presets"][0]["backend"] if r["presets"] else "eager"
    why = f" {r['fallback']}." if r.get("fallback") else ""
    return "\n".join([
        "## Compiled models",
        "",
        "`bench/compile.py`: `generate()` with a static cache and `compile_config` (transformers compiles the "
        f"decode forward; backend **{backend}**{' on this CPU with gcc' if backend == 'inductor' else ''}), bare "
        "against `StageTimer.generate()`, in alternating order; ratio = timed / bare per round. Graph breaks are "
        "Dynamo's count over the measured calls of both sides (0: the hooks fold away inside the compiled decode, "
        "whose steps the timer reads from the tokens, decode clock `streamer`); recompiles: graphs Dynamo compiled "
        "during the measured rounds (0: the warm-up compiled everything)." + why,
        "",
        table(["preset", "device", "backend", "rounds", "bare ms", "timed ms", "ratio", "graph breaks", "recompiles",
               "decode clock"],
              rows),
        "",
    ])
