"""The measurement worker's throughput, and its own cost per sample outside generate().

A real headless worker records N samples of the tiny default preset into a fresh database.
Its cycle is the time between two consecutive finished samples; the cost outside
``generate()`` is that cycle minus the sample's e2e. The parts of that cost are then timed
one by one in the same process: making the image, the processor (``loaded.prepare``),
the database write (one transaction) and the control poll (one query per sample).

    python bench/worker.py                 # 200 samples
    python bench/worker.py --quick --json  # the CI smoke
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import bench_parser, fmt, run, spread

from vlmtop.core.model_loading import load_model
from vlmtop.core.samples import synthetic_samples
from vlmtop.core.zoo import DEFAULT_PRESET
from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.run.worker import RunSettings, Worker, default_threads
from vlmtop.sessions.store import SessionStore


def run_worker(db: Path, count: int, new_tokens: int) -> dict:
    finished, e2e = [], []

    def on_sample(record: SampleRecord) -> None:
        finished.append(time.perf_counter())
        e2e.append(record.e2e_ms)

    settings = RunSettings(count=count, warmup="none", max_new_tokens=new_tokens, threads=default_threads(False))
    Worker(settings, db, on_sample=on_sample).run()
    cycles = [(b - a) * 1e3 for a, b in zip(finished, finished[1:])]
    outside = [cycle - ms for cycle, ms in zip(cycles, e2e[1:])]
    return {
        "samples": count,
        "samples_per_s": (len(finished) - 1) / (finished[-1] - finished[0]),
        "cycle_ms": spread(cycles),
        "e2e_ms": spread(e2e),
        "outside_ms": spread(outside),
    }


def time_parts(db: Path, repeat: int) -> dict:
    """Each part of the per-sample work outside generate(), timed alone (ms, medians)."""
    loaded = load_model(DEFAULT_PRESET, device="cpu")
    samples = synthetic_samples(loaded.image_sizes)
    store = SessionStore.open(db)
    session_id = store.create_session(DEFAULT_PRESET, "cpu", "float32", {}, {})
    row = store.samples(store.sessions()[0].id)[-1]

    def timed(run) -> float:
        start = time.perf_counter()
        run()
        return (time.perf_counter() - start) * 1e3

    parts = {"image": [], "prepare": [], "write_sample": [], "control_poll": []}
    for seq in range(repeat):
        sample = next(samples)
        image = sample.image()
        parts["image"].append(timed(sample.image))
        parts["prepare"].append(timed(lambda: loaded.prepare(image, sample.prompt)))
        record = replace(row, session_id=session_id, seq=seq)
        parts["write_sample"].append(timed(lambda: store.write_sample(record)))
        parts["control_poll"].append(timed(lambda: store.pending_controls(session_id)))
    store.close()
    return {name: spread(values) for name, values in parts.items()}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, device=False)  # the tiny preset on the CPU, as a user first runs it
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--new-tokens", type=int, default=16)
    args = parser.parse_args(argv)
    args.parts_repeat = max(10, args.count // 4)
    if args.quick:  # 3 samples give 2 cycles; the parts 3 times each beside them
        args.count, args.parts_repeat = 3, 3
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    with tempfile.TemporaryDirectory(prefix="vlmtop-bench-worker-") as tmp:
        db = Path(tmp) / "worker.db"
        return {
            "preset": DEFAULT_PRESET,
            "new_tokens": args.new_tokens,
            "run": run_worker(db, args.count, args.new_tokens),
            "parts_ms": time_parts(db, args.parts_repeat),
        }


def show(result: dict, args) -> None:
    run = result["run"]
    print(f"# worker: {DEFAULT_PRESET}, {args.new_tokens} new tokens, {run['samples']} samples")
    print(f"throughput        {run['samples_per_s']:.1f} samples/s")
    print(f"cycle ms          {fmt(run['cycle_ms'])}")
    print(f"e2e ms            {fmt(run['e2e_ms'])}")
    print(f"outside generate  {fmt(run['outside_ms'])} ms, of which (timed alone):")
    for name, figure in result["parts_ms"].items():
        print(f"  {name:<15} {fmt(figure, 3)} ms")


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
