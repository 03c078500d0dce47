"""The benchmark suite still runs end to end, and every section hands back figures of the
right shape.

What is checked is structure only: keys, types, counts and finite numbers. A quick run's
sizes are far too small for its figures to mean anything, and the machine is shared, so no
timing and no ratio of timings is ever compared with a bound here (an earlier version
asserted agreement ratios within 0.2..5 and failed whenever the machine was busy).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from vlmtop.core.zoo import PRESETS

ROOT = Path(__file__).resolve().parents[2]
SPREAD = {"median", "p10", "p90", "n"}


def assert_finite_numbers(value, where: str = "figures") -> None:
    """Every number anywhere in the JSON is finite (None stands for "not measured")."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_finite_numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_finite_numbers(item, f"{where}[{index}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        assert math.isfinite(value), where


def assert_spread(figure: dict, n: int) -> None:
    """A median with its nearest-rank 10th..90th percentiles over n values."""
    assert set(figure) == SPREAD and figure["n"] == n, figure
    assert figure["p10"] <= figure["median"] <= figure["p90"], figure


def assert_described(section: dict, preset: str) -> None:
    assert (section["preset"], section["device"], section["dtype"]) == (preset, "cpu", "float32")


def test_run_all_quick_writes_every_section(tmp_path):
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text()
    for heading in ("## Agreement", "## The separate-pass method", "## Effect of the cache policy", "## Coverage",
                    "## Timer overhead", "## Worker throughput", "## Dashboard", "## Session database",
                    "## False positives", "## Verdicts: error rates", "## Cost models", "## Ray", "## Compiled models"):
        assert report.count(heading) == 1, heading
    assert "quick smoke run" in report
    figures = json.loads(out.with_suffix(".json").read_text())
    assert set(figures) == {"agreement", "multipass", "stage_coverage", "overhead", "worker", "dashboard", "store",
                            "processes", "verdicts", "costmodel", "ray_overhead", "compile", "machine", "quick"}
    assert figures["machine"]["torch"] and figures["quick"] is True
    for name in ("agreement", "multipass", "stage_coverage", "overhead", "worker", "store"):
        assert figures[name]["machine"]["torch"], name  # as each bench's --json prints it
    assert_finite_numbers(figures)

    # agreement: 2 rounds against isolation, 1 profiled generate, 1 round per clock mode
    agreement = figures["agreement"]
    assert_described(agreement, "tiny-llava")
    assert (agreement["rounds"], agreement["profiled_rounds"]) == (2, 1)
    assert (agreement["new_tokens"], agreement["warm_rounds"]) == (2, 1)
    stages = {"vision", "projector", "prefill", "decode_step"}  # tiny-llava has all four
    assert set(agreement["isolation"]) == stages and set(agreement["profiler"]) == stages
    for figure in agreement["isolation"].values():
        assert_spread(figure["single_pass_ms"], 2)
        assert_spread(figure["isolated_ms"], 2)
        assert figure["ratio"] > 0
    for figure in agreement["profiler"].values():
        assert_spread(figure, 1)
    assert set(agreement["clocks"]["clocks"]) == {"events", "sync"}
    assert set(agreement["clocks"]["stages"]) == stages | {"e2e"}
    for figure in agreement["clocks"]["stages"].values():
        assert_spread(figure["events_ms"], 1)
        assert_spread(figure["sync_ms"], 1)

    # multipass: 2 samples, 2 rounds each way; the cache policy, 2 rounds of keep/empty
    multipass = figures["multipass"]
    assert_described(multipass, "tiny-llava")
    separate, cache = multipass["separate_pass"], multipass["cache"]
    assert (separate["samples"], separate["rounds"], cache["rounds"]) == (2, 2, 2)
    five = {"vision", "projector", "prefill", "decode", "e2e"}
    assert set(separate["stages"]) == five and set(cache["stages"]) == five
    for figure in separate["stages"].values():
        assert_spread(figure["single_pass_ms"], 2)
        assert_spread(figure["multipass_ms"], 2)
    assert_spread(separate["decode_excess_ms"], 2)
    assert_spread(separate["single_pass_other_ms"], 2)
    assert cache["action"].startswith("gc.collect")
    for figure in cache["stages"].values():
        assert_spread(figure["keep_ms"], 2)
        assert_spread(figure["empty_ms"], 2)

    # coverage: every tiny preset, once; other_ms is a share of e2e (stages lie inside it)
    presets = figures["stage_coverage"]["presets"]
    assert [p["preset"] for p in presets] == [name for name in PRESETS if name.startswith("tiny-")]
    for p in presets:
        assert p["rounds"] == 1 and p["new_tokens"] == 16 and p["prompt_tokens"] > 0 and p["vocab"] > 0
        for key in ("e2e_ms", "other_ms", "other_share"):
            assert_spread(p[key], 1)
        assert 0 <= p["other_share"]["median"] < 1
        assert set(p["parts_ms"]) == {"setup", "merge", "loop", "tail"}
        assert all(part >= 0 for part in p["parts_ms"].values())

    # overhead: the tiny default preset, 2 rounds
    (overhead,) = figures["overhead"]["presets"]
    assert_described(overhead, "tiny-qwen2-vl")
    assert overhead["rounds"] == 2
    for key in ("bare_ms", "timed_ms", "ratio"):
        assert_spread(overhead[key], 2)

    # worker: 3 samples give 2 cycles; each part timed 3 times
    worker = figures["worker"]
    assert worker["run"]["samples"] == 3 and worker["run"]["samples_per_s"] > 0
    for key in ("cycle_ms", "outside_ms"):
        assert_spread(worker["run"][key], 2)
    assert_spread(worker["run"]["e2e_ms"], 3)
    assert set(worker["parts_ms"]) == {"image", "prepare", "write_sample", "control_poll"}
    for figure in worker["parts_ms"].values():
        assert_spread(figure, 3)

    # dashboard (its sizes are its own): the two parts and their figures
    lag, perturbation = figures["dashboard"]["lag"], figures["dashboard"]["perturbation"]
    assert lag["rows_written"] > 0 and lag["frames"] > 0
    assert {"lag_ms_median", "lag_ms_p99", "lag_ms_max"} <= set(lag)
    assert perturbation["rounds"] >= 1 and perturbation["samples_per_session"] >= 1
    assert perturbation["ratio_min"] <= perturbation["ratio_median"] <= perturbation["ratio_max"]

    # store: a session just past the replay window
    store = figures["store"]
    assert (store["rows"], store["writes"]) == (3000, 20)
    assert set(store["write_us"]) == {"NORMAL", "FULL"} and store["bytes_per_sample"] > 0
    assert {"open_s", "open_end_s", "seek_ms", "step_back_ms", "step_forward_us"} <= set(store["replay"])
    assert set(store["tail"]) == {"poll0_us", "poll10_us"}

    # processes: 3 quick processes; the 2x decode change checked one process per side (3 pairs)
    # and between replicated sides (the one split into 1 and 2 processes)
    procs = figures["processes"]
    assert (procs["processes"], procs["pairs"]) == (3, 3) and procs["decode_2x_found"]["pairs"] == 3
    replicated = procs["decode_2x_replicated"]
    assert (replicated["splits"], replicated["processes_per_side"]) == (1, 1)
    assert 0 <= replicated["slower"] <= 1 and replicated["ratio_median"] > 0
    assert "between replicated sides" in report

    # verdicts: 2 quick processes per condition, quiet and beside a busy loop; every level of
    # evidence counts its comparisons (any stage) and the power of the two decode changes
    verdicts = figures["verdicts"]
    assert set(verdicts["conditions"]) == {"quiet", "loaded"} and verdicts["processes"] == 2
    for by_level in verdicts["conditions"].values():
        assert set(by_level) == {"interleaved", "replicated_arms", "replicated_sides", "one_process_per_side",
                                 "process_log_sd"}
        assert set(by_level["process_log_sd"]) == {"vision_ms", "projector_ms", "prefill_ms", "ttft_ms", "decode_ms",
                                                   "e2e_ms"}
        assert by_level["interleaved"]["a_a"]["comparisons"] == 2
        assert by_level["one_process_per_side"]["decode_2x"]["comparisons"] == 1
        for name, level in by_level.items():
            if name == "process_log_sd":
                continue
            assert 0 <= level["a_a"]["with_a_false_claim"] <= level["a_a"]["comparisons"]
            assert level["decode_plus_1_step"]["comparisons"] == level["decode_2x"]["comparisons"] >= 1

    # cost model: one quick sweep of 4 sizes, each held out once; every stage predicted with an interval
    (sweep,) = figures["costmodel"]["sweeps"]
    assert (sweep["model"], sweep["sizes"], sweep["count"]) == ("tiny-qwen2-vl", [56, 112, 168, 224], 3)
    assert {s["stage"] for s in sweep["fit"]["stages"]} >= {"vision_ms", "prefill_ms", "decode_per_step_ms"}
    assert [h["value"] for h in sweep["holdouts"]] == ["56x56", "112x112", "168x168", "224x224"]
    for held in sweep["holdouts"]:
        for row in held["stages"]:
            assert row["low"] <= row["value"] <= row["high"] and isinstance(row["inside"], bool), row

    # Ray: one round of one replicate per side, or the reason it could not run
    ray = figures["ray_overhead"]
    if "skipped" in ray:
        assert "pip install 'vlmtop[ray]'" in ray["skipped"]
    else:
        assert (ray["rounds"], ray["replicates"], ray["samples_per_replicate"]) == (1, 1, 5)
        assert_spread(ray["driver_write_sample_us"], 5)
        assert set(ray["cycle_ms"]) == set(ray["samples_per_s"]) == {"local", "ray"}
        assert_spread(ray["throughput_ratio_ray_over_local"], 1)


def test_quick_mode_asks_for_the_smallest_sizes():
    # What makes --quick quick, checked without running it: every generate() of a smoke run
    # costs about a second on a busy 2-core machine, and none of its figures is read.
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import agreement
        import costmodel
    finally:
        sys.path.remove(str(ROOT / "bench"))
    quick, full = agreement.parse(["--quick"]), agreement.parse([])
    assert (quick.rounds, quick.profiled_rounds, quick.clock_rounds, quick.warm_rounds) == (2, 1, 1, 1)
    assert quick.new_tokens == 2 and full.new_tokens == 8 and full.warm_rounds == 2
    (sweep,) = costmodel.runs(costmodel.parse(["--quick"]))
    assert (sweep.count, sweep.max_new_tokens, sweep.warmup, len(sweep.sizes)) == (3, 2, 1, 4)
    assert all(run.warmup == 2 for run in costmodel.runs(costmodel.parse([])))
