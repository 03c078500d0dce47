"""Report sections on the system around the timer: the worker, the dashboard, the session
database, false positives across processes, cost models, Ray and large sessions.

Each function turns one bench's JSON (see bench/<name>.py) into a Markdown section.
"""

from __future__ import annotations

from _common import fmt, table
from costmodel import inside_counts


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

    found, rep = r["decode_2x_found"], r["decode_2x_replicated"]
    sd = ", ".join(f"{k.removesuffix('_ms')} {v:.3f}" for k, v in r["process_log_sd"].items())
    return "\n".join([
        "## False positives: across processes and inside one",
        "",
        f"`bench/processes.py`: {r['processes']} worker processes of {r['preset']} (`vlmtop run --repeat "
        f"{r['processes']} --knob max_new_tokens=8,16,17`, {r['blocks']} blocks each, 1 thread). Decode length cannot "
        "change vision, projector or prefill, so every `faster` or `slower` on them is a false positive "
        f"(3 stages per comparison; {r['pairs']} pairs of processes).",
        "",
        table(["method", "false positives", "rate", "inconclusive"], [
            row("old_across_processes", "(a) old: two processes, every sample independent"),
            row("floor_one_per_side", "(b) one process per side, process-noise floor (leave-two-out)"),
            row("hierarchical_halves", "(b) replicated (Welch t on process medians), half the processes per side (every split)"),
            row("interleaved_arms", "(c) interleaved arms in one process (16 and 17 vs 8 tokens)"),
        ]),
        "",
        "The splits into halves share processes, so they are not independent draws; the pairs share them "
        f"too. A real change is still found: decode with 16 against 8 new tokens, one process per side with the "
        f"floor, is `slower` in {found['slower']} of {found['pairs']} pairs; between replicated sides (the 8-token "
        f"arm of {rep['processes_per_side']} processes against the 16-token arm of the other "
        f"{rep['processes_per_side']}, replicated), in {rep['slower']} of {rep['splits']} splits (median ratio "
        f"{rep['ratio_median']:.2f}, lowest CI bound {rep['ci_low_min']:.2f}). The leave-two-out floor is an SD of "
        f"{r['processes'] - 2} processes ({r['processes'] - 3} degrees of freedom, Student-t), so one process per side "
        "calls only what clears that wide floor. Log-SD of a stage's process median across the processes (how "
        f"the default floor of sessions/compare/noise_floor.py is measured; its figures are in docs/stats.md): {sd}.",
        "",
        "A small real effect inside one process: 17 against 16 new tokens (one more decode step, "
        "decode +1/15), interleaved arms of each process compared at the default threshold (2%):",
        "",
        table(["stage", "found slower", "ratio median", "ratio range over processes"], [
            [stage.removesuffix("_ms"), f"{one['slower']} / {one['processes']} processes", f"{one['ratio_median']:.3f}",
             f"{one['ratio_min']:.3f}..{one['ratio_max']:.3f}"]
            for stage, one in r["one_more_step"].items()
        ]),
        "",
    ])


def verdicts(r: dict) -> str:
    levels = {"interleaved": "interleaved arms, one process (a comparison per process)",
              "replicated_arms": f"arms paired in each process, {r['replicated_processes']} processes a comparison",
              "replicated_sides": f"{r['side_processes']} processes against {r['side_processes']}, unpaired "
                                  "(seeded draws: they share processes)",
              "one_process_per_side": "one process per side, default floor (disjoint pairs)"}
    rows = []
    for condition, by_level in r["conditions"].items():
        for level, name in levels.items():
            f = by_level[level]
            aa, two, one = f["a_a"], f["decode_2x"], f["decode_plus_1_step"]
            rows.append([condition, name, f"{aa['with_a_false_claim']} / {aa['comparisons']}",
                         f"{two['slower']} / {two['comparisons']}" + (f" ({two['faster']} faster)" if two["faster"] else ""),
                         f"{one['slower']} / {one['comparisons']}" + (f" ({one['faster']} faster)" if one["faster"] else "")])
    return "\n".join([
        "## Verdicts: error rates per comparison, quiet and loaded",
        "",
        f"`bench/verdicts.py`: per condition, {r['processes']} worker processes of {r['preset']} (`vlmtop run --repeat "
        f"{r['processes']} --knob max_new_tokens=8,16,17`, {r['blocks']} blocks each, 1 thread); `loaded` runs "
        f"{r['burners']} busy loops beside them. A comparison is all of vision, projector, prefill and ttft, "
        "which decode length cannot move: one `faster` or `slower` among them makes it a false comparison. "
        "Power: decode with 16 against 8 tokens (2x) and 17 against 16 (one more step, +6.7%).",
        "",
        table(["condition", "evidence", "A/A: comparisons with a false claim", "decode 2x: slower",
               "decode +6.7%: slower"], rows),
        "",
        "Process log-SD of a stage's median across the processes (what the default floor of "
        "sessions/compare/noise_floor.py stands for): " + "; ".join(
            f"{condition} " + ", ".join(f"{k.removesuffix('_ms')} {v:.3f}" for k, v in by_level["process_log_sd"].items())
            for condition, by_level in r["conditions"].items()) + ".",
        "",
    ])


def costmodel(r: dict) -> str:
    lines = [
        "## Cost models: predicting an image size that was not measured",
        "",
        "`bench/costmodel.py` (method: [costmodel.md](costmodel.md)): one interleaved sweep of square image sizes "
        "(`vlmtop run --knob image_size=...`), then each size in turn left out: the per-stage model is fitted on "
        "the others and predicts it (`vlmtop model --holdout`). The end sizes are extrapolations. A cell is the "
        "predicted median [95% interval] against the measured median, in ms; `in` when the interval holds it.",
        "",
    ]
    for sweep in r["sweeps"]:
        lines += _costmodel_sweep(sweep)
    return "\n".join(lines)


# The fit is per stage (decode per step); a held-out size is predicted per stage and as the
# composed totals a user reads (decode for the sample's tokens, e2e).
FIT_STAGES = ("vision_ms", "prefill_ms", "decode_per_step_ms")
HELD_STAGES = ("vision_ms", "prefill_ms", "decode_ms", "e2e_ms")


def _costmodel_sweep(sweep: dict) -> list[str]:
    fit_rows = [
        [s["label"], "; ".join(f"{c['value']:.3g} [{c['ci_low']:.3g}..{c['ci_high']:.3g}] {c['unit']}"
                               for c in s["coefficients"]),
         f"{s['r2']:.2f}", f"{s['residual_to_noise']:.2f}"]
        for s in sweep["fit"]["stages"] if s["stage"] in FIT_STAGES
    ]
    held_rows = []
    for held in sweep["holdouts"]:
        by_stage = {row["stage"]: row for row in held["stages"]}
        cells = []
        for stage in HELD_STAGES:
            row = by_stage.get(stage)
            if row is None:
                cells.append("-")
                continue
            cells.append(f"{row['value']:.1f} [{row['low']:.1f}..{row['high']:.1f}] vs {row['measured']:.1f} "
                         f"{'in' if row['inside'] else '**out**'}")
        held_rows.append([str(held["value"]), *cells])
    n, inside = len(sweep["holdouts"]), inside_counts(sweep["holdouts"], HELD_STAGES)
    names = [stage.removesuffix("_ms") for stage in HELD_STAGES]
    return [
        f"### {sweep['model']} on {sweep['device']} ({sweep['dtype']})",
        "",
        f"Sizes {', '.join(f'{s}x{s}' for s in sweep['sizes'])}; {sweep['count']} measured samples each, "
        f"{sweep['max_new_tokens']} new tokens. {sweep['fit']['image_tokens_map']}.",
        "",
        table(["stage", "fit on every size: coefficient [95% CI]", "R²", "residual / noise"], fit_rows),
        "",
        table(["held out", *names], held_rows),
        "",
        "Inside its interval: " + ", ".join(f"{name} {inside[stage]}/{n}" for name, stage in zip(names, HELD_STAGES))
        + ".",
        "",
    ]


def ray_overhead(r: dict) -> str:
    if "skipped" in r:
        return "\n".join(["## Ray: what the fleet adds per sample", "", f"Not measured: {r['skipped']}.", ""])
    cycle, rate = r["cycle_ms"], r["samples_per_s"]
    return "\n".join([
        "## Ray: what the fleet adds per sample",
        "",
        f"`bench/ray_overhead.py` (design: [scaling.md](scaling.md)): the same experiment ({r['preset']}, "
        f"{r['replicates']} replicates x {r['samples_per_replicate']} samples per side, one torch thread) run locally "
        "(`--repeat`: a worker subprocess writes the file) and on a local Ray (actors, the driver the one writer), "
        f"{r['rounds']} rounds alternating which side goes first.",
        "",
        table(["figure", "value"], [
            ["driver `write_sample` per sample, µs", fmt(r["driver_write_sample_us"], 0)],
            ["relay latency: generate() ends in the actor -> committed, ms", fmt(r["relay_latency_ms"])],
            ["cycle per sample inside a process, local / Ray, ms",
             f"{cycle['local']['median']:.1f} / {cycle['ray']['median']:.1f}"],
            ["cycle ratio Ray / local, per round", fmt(r["cycle_ratio_ray_over_local"], 3)],
            ["end to end, local / Ray, samples/s (start and model load included)",
             f"{rate['local']['median']:.1f} / {rate['ray']['median']:.1f}"],
            ["end-to-end ratio Ray / local, per round", fmt(r["throughput_ratio_ray_over_local"], 3)],
        ]),
        "",
    ])
