"""Benchmark of what Ray adds: an experiment as Ray actors against the same one run locally.

    python bench/ray_overhead.py           # 3 rounds of 2 replicates x 40 samples per side
    python bench/ray_overhead.py --quick   # a smoke run (figures mean little)

Both sides run the same experiment (tiny default preset, one arm, one torch thread, 2
replicate processes one after another): locally as `vlmtop run --repeat` does (a worker
subprocess writing the database itself), and on a local Ray (`ray.init()`, one actor at a
time, the driver the one writer). Rounds alternate which side goes first. Figures:

- driver commit: the driver's `write_sample` per sample (µs), and the relay latency, from
  the end of a sample's generate() in the actor to its commit by the driver (ms);
- cycle: the time from one sample's start to the next inside a process (ms), whose ratio
  Ray/local is the per-sample cost of the relay (the actor waits for each acknowledgement);
- end to end: measured samples per second of wall time, process start and model load
  included, and its ratio Ray/local per round.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

from _common import bench_parser, fmt, run, spread

from vlmtop.core.zoo import DEFAULT_PRESET
from vlmtop.sessions.run.experiment import new_experiment_id, plan, run_experiment
from vlmtop.sessions.run.ray import driver
from vlmtop.sessions.run.worker import RunSettings
from vlmtop.sessions.store import SessionStore


def parse():
    parser = bench_parser(__doc__, device=False)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--count", type=int, default=40, help="measured samples per replicate")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.replicates, args.count = 1, 1, 5
    return args


class TimedCommits:
    """Wraps the driver's commit: how long each sample's write takes, and how old the
    sample is when committed (its generate() ended in the actor; one host, one clock)."""

    def __init__(self) -> None:
        self.write_us: list[float] = []
        self.relay_ms: list[float] = []
        self._commit = driver.commit

    def __call__(self, store, running, kind, payload) -> None:
        began = time.perf_counter()
        self._commit(store, running, kind, payload)
        if kind == "sample":
            self.write_us.append((time.perf_counter() - began) * 1e6)
            if payload.e2e_ms is not None:
                self.relay_ms.append((time.time() - payload.started_at) * 1e3 - payload.e2e_ms)


def side_run(side: str, settings: RunSettings, db: Path, replicates: int) -> dict:
    experiment_id = new_experiment_id()
    reps = plan(experiment_id, replicates, settings.model, None)
    began = time.perf_counter()
    if side == "local":
        run_experiment(settings, db, reps, experiment_id)
    else:
        driver.Fleet(settings, db, reps, experiment_id, driver.FleetOptions(workers=1, cpus_per_worker=1)).run()
    wall_s = time.perf_counter() - began
    with SessionStore.open(db, create=False, readonly=True) as store:
        infos = store.experiment_sessions(experiment_id)
        assert all(info.status == "completed" for info in infos), [info.error for info in infos]
        cycles = []
        for info in infos:
            starts = [r.started_at for r in store.samples(info.id) if not r.is_warmup]
            cycles += [(b - a) * 1e3 for a, b in zip(starts, starts[1:])]
        measured = sum(info.measured_count for info in infos)
    return {"wall_s": wall_s, "samples_per_s": measured / wall_s, "cycle_ms": statistics.median(cycles)}


def figures(args) -> dict:
    import ray

    settings = RunSettings(model=DEFAULT_PRESET, count=args.count, max_new_tokens=4, warmup="none", threads=1)
    timed = TimedCommits()
    driver.commit = timed  # the Fleet looks it up at each commit
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for round_ in range(args.rounds):
                for side in ("local", "ray") if round_ % 2 == 0 else ("ray", "local"):
                    db = Path(folder) / f"{side}.db"
                    runs[side].append(side_run(side, settings, db, args.replicates))
    finally:
        ray.shutdown()
        driver.commit = timed._commit
    per_round = lambda key: [r[key] / base[key] for r, base in zip(runs["ray"], runs["local"])]  # noqa: E731
    return {
        "preset": DEFAULT_PRESET,
        "rounds": args.rounds,
        "replicates": args.replicates,
        "samples_per_replicate": args.count,
        "driver_write_sample_us": spread(timed.write_us),
        "relay_latency_ms": spread(timed.relay_ms),
        "cycle_ms": {side: spread([r["cycle_ms"] for r in runs[side]]) for side in runs},
        "cycle_ratio_ray_over_local": spread(per_round("cycle_ms")),
        "samples_per_s": {side: spread([r["samples_per_s"] for r in runs[side]]) for side in runs},
        "throughput_ratio_ray_over_local": spread(per_round("samples_per_s")),
    }


def show(result: dict, args) -> None:
    print(f"# Ray overhead: {result['preset']}, {args.rounds} rounds x {args.replicates} replicates "
          f"x {args.count} samples per side, medians (p10..p90)")
    print(f"driver write_sample      {fmt(result['driver_write_sample_us'], 0)} us")
    print(f"relay latency            {fmt(result['relay_latency_ms'])} ms (generate end in the actor -> committed)")
    for side in ("local", "ray"):
        print(f"cycle {side:<5}              {fmt(result['cycle_ms'][side])} ms per sample")
    print(f"cycle ratio ray/local    {fmt(result['cycle_ratio_ray_over_local'], 3)}")
    for side in ("local", "ray"):
        print(f"end to end {side:<5}         {fmt(result['samples_per_s'][side])} samples/s (start + load included)")
    print(f"throughput ratio ray/local {fmt(result['throughput_ratio_ray_over_local'], 3)}")


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
