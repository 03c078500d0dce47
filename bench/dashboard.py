"""Dashboard cost: its own CPU, perturbation of the measurement, and lag from a committed row to the screen.

0. CPU: the dashboard process (`vlmtop attach`, in a tmux pane of a given size, as a user
   runs it) on a session whose writer is idle, paused, or committing 50 samples/s; its share
   of one core from /proc/PID/stat over a few seconds. With --previous PYTHON the same is
   measured for another installed version (e.g. the tree before this change). Goal: under
   2% of a core idle or paused.

1. Perturbation: the same worker run (tiny default preset, one torch thread, as `vlmtop run`
   gives it on 2 cores) recorded with and without a dashboard attached in another process,
   in alternating order (AB, BA, ...). The figure is the median over rounds of the ratio
   median e2e with / without. Goal: at most 1.02.
2. Lag: a writer process commits synthetic rows at 500 rows/s while the dashboard tails
   them; for every frame, the age of the newest row when the frame has been drawn. Goal:
   under 0.5 s.

    python bench/dashboard.py [--rounds 4] [--count 60] [--previous PYTHON] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.run.process import worker_command
from vlmtop.sessions.run.worker import RunSettings
from vlmtop.sessions.store import SessionStore


def record(db: Path, session_id: str, count: int, with_dashboard: bool) -> float:
    """Median measured e2e of one worker session, optionally with a dashboard attached."""
    settings = RunSettings(count=count, warmup="3", max_new_tokens=16, threads=1)
    worker = subprocess.Popen(worker_command(db, session_id, settings),  # as the dashboard starts it
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dashboard = None
    try:
        _wait_for(lambda: _has_session(db, session_id), 120)
        if with_dashboard:
            dashboard = subprocess.Popen(
                [sys.executable, __file__, "--attach", str(db), session_id],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        worker.wait(timeout=1800)
    finally:
        for process in (worker, dashboard):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    store = SessionStore.open(db, create=False)
    return statistics.median(store.column(session_id, "e2e_ms", measured_only=True).tolist())


def _has_session(db: Path, session_id: str) -> bool:
    if not db.exists():
        return False
    try:
        SessionStore.open(db, create=False).session(session_id)
        return True
    except Exception:
        return False


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not start")
        time.sleep(0.05)


def attach(db: str, session_id: str) -> None:
    """The dashboard process of the perturbation run: the real app, rendering headless."""
    from vlmtop.sessions.playback import LiveTail
    from vlmtop.tui.app import VlmtopApp

    store = SessionStore.open(db, create=False)

    class Attached(VlmtopApp):
        def _apply_inbox(self) -> None:
            super()._apply_inbox()
            if self.state.session is not None and self.state.session.status != "running":
                self.exit()

    Attached(store, LiveTail(store, session_id)).run(headless=True, size=(120, 40))


def write_rows(db: str, session_id: str, rate: float, seconds: float) -> None:
    """Writer process of the lag run: commits rows at `rate`, stamped with commit time."""
    store = SessionStore.open(db, create=False)
    start = time.monotonic()
    seq = 0
    while (elapsed := time.monotonic() - start) < seconds:
        if seq > elapsed * rate:
            time.sleep(0.0005)
            continue
        row = SampleRecord(session_id, seq, f"s{seq}", started_at=time.time(), vision_ms=3.0, projector_ms=0.3,
                           prefill_ms=4.0 + seq % 7, decode_ms=15.0, ttft_ms=9.0, e2e_ms=30.0 + seq % 5,
                           other_ms=7.0, new_tokens=16, decode_steps_ms=[1.0] * 15)
        store.write_sample(row)
        seq += 1
    store.finish_session(session_id, "completed")


@contextlib.contextmanager
def _scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder for one measurement's databases, deleted however it ends: runs
    before this left hundreds of /tmp/vlmtop-cpu-* and -perturbation-* folders behind."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_lag(rate: float, seconds: float) -> dict:
    with _scratch("vlmtop-lag-") as folder:
        return _measure_lag(folder, rate, seconds)


def _measure_lag(folder: Path, rate: float, seconds: float) -> dict:
    from vlmtop.sessions.playback import LiveTail
    from vlmtop.tui.app import VlmtopApp

    db = folder / "lag.db"
    store = SessionStore.open(db, create=True)
    session_id = store.create_session("synthetic", "cpu", "float32", {})
    lags: list[float] = []
    rows_per_frame: list[int] = []

    class Timed(VlmtopApp):
        last_seq = -1

        def _apply_inbox(self) -> None:
            super()._apply_inbox()  # applies what the poller read and draws
            drawn = time.time()
            new = [row for row in self.state.rows if row.seq > self.last_seq]
            if new:
                self.last_seq = new[-1].seq
                # every row's wait: committed just after a poll, it waits for the next frame
                lags.extend(drawn - row.started_at for row in new)

        def on_mount(self) -> None:
            super().on_mount()
            self.writer = subprocess.Popen([sys.executable, __file__, "--write", str(db), session_id,
                                            str(rate), str(seconds)])

    async def run() -> None:
        app = Timed(store, LiveTail(store, session_id))
        async with app.run_test(size=(120, 40)) as pilot:
            previous = 0
            while app.writer.poll() is None:
                await pilot.pause(0.1)
                rows_per_frame.append(len(app.state.rows) - previous)
                previous = len(app.state.rows)

    try:
        asyncio.run(run())
        written = store.session(session_id).sample_count
    finally:
        store.close()
    lags = lags[rows_per_frame[0] if rows_per_frame else 0:]  # rows committed before the app ran
    return {
        "rate_rows_per_s": rate,
        "rows_written": written,
        "frames": len(rows_per_frame),
        "lag_ms_median": statistics.median(lags) * 1e3,
        "lag_ms_p99": sorted(lags)[int(0.99 * (len(lags) - 1))] * 1e3,
        "lag_ms_max": max(lags) * 1e3,
        "goal_ms": 500,
    }


CPU_SCENARIOS = ("idle", "paused", "50/s")
CPU_SIZES = ((80, 24), (200, 50))


def hold_session(db: str, scenario: str) -> None:
    """Writer process of the CPU run: owns a running session (alive, so the dashboard reads
    it as running) and, per scenario, writes nothing, a pause event, or 50 samples/s."""
    from vlmtop.sessions.records import EventRecord

    store = SessionStore.open(db, create=True)
    session_id = store.create_session("synthetic", "cpu", "float32", {})
    rows = 0

    def write(seq: int) -> None:
        store.write_sample(SampleRecord(session_id, seq, f"s{seq}", started_at=time.time(), vision_ms=3.0 + seq % 3,
                                        projector_ms=0.3, prefill_ms=4.0 + seq % 7, decode_ms=15.0, ttft_ms=9.0,
                                        e2e_ms=30.0 + seq % 5, other_ms=7.0, new_tokens=16, decode_steps_ms=[1.0] * 15))

    for rows in range(200):  # something on screen: the panels draw what a user sees
        write(rows)
    if scenario == "paused":
        store.write_event(EventRecord(session_id, 200, "pause", "requested from a dashboard", time.time()))
    print(session_id, flush=True)
    start, seq = time.monotonic(), 200
    while True:  # until terminated
        if scenario == "50/s" and seq - 200 < (time.monotonic() - start) * 50:
            write(seq)
            seq += 1
            continue
        time.sleep(0.005 if scenario == "50/s" else 0.5)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15 of stat)


def dashboard_cpu(python: str, scenario: str, size: tuple[int, int], warm_s: float, measure_s: float,
                  interval: float | None) -> float:
    """Share of one core the dashboard process used over `measure_s`, after `warm_s`."""
    with _scratch("vlmtop-cpu-") as folder:
        return _dashboard_cpu(folder, python, scenario, size, warm_s, measure_s, interval)


def _dashboard_cpu(folder: Path, python: str, scenario: str, size: tuple[int, int], warm_s: float,
                   measure_s: float, interval: float | None) -> float:
    db = folder / "cpu.db"
    writer = subprocess.Popen([sys.executable, __file__, "--hold", str(db), scenario], stdout=subprocess.PIPE, text=True)
    session_id = writer.stdout.readline().strip()
    name = f"vlmtop-cpu-{os.getpid()}"
    extra = f" --interval {interval:g}" if interval is not None else ""
    command = f"exec {python} -m vlmtop attach {session_id} --db {db}{extra}"
    try:
        # started in the temporary folder: `-m vlmtop` must not import a source tree in the cwd
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-c", str(folder), "-x", str(size[0]), "-y", str(size[1]), command],
                       check=True)
        pid = int(subprocess.run(["tmux", "list-panes", "-t", name, "-F", "#{pane_pid}"], check=True,
                                 capture_output=True, text=True).stdout.split()[0])
        time.sleep(warm_s)  # imports and the first frame are not the steady state
        before, started = _cpu_ticks(pid), time.monotonic()
        time.sleep(measure_s)
        used = (_cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK")
        return used / (time.monotonic() - started)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        writer.terminate()
        writer.wait(timeout=30)


def measure_cpu(previous: str | None, warm_s: float, measure_s: float, quick: bool = False) -> dict:
    versions = {"this": sys.executable, **({"previous": previous} if previous else {})}
    out: dict = {"measure_s": measure_s, "goal_idle_share": 0.02, "results": []}
    for scenario in CPU_SCENARIOS[:1] if quick else CPU_SCENARIOS:  # quick: that it runs, not the figures
        for size in CPU_SIZES[:1] if quick else CPU_SIZES:
            for version, python in versions.items():
                share = dashboard_cpu(python, scenario, size, warm_s, measure_s, None)
                out["results"].append({"version": version, "scenario": scenario, "size": f"{size[0]}x{size[1]}",
                                       "cpu_share": share})
    return out


def measure_perturbation(rounds: int, count: int) -> dict:
    with _scratch("vlmtop-perturbation-") as folder:
        return _measure_perturbation(folder, rounds, count)


def _measure_perturbation(folder: Path, rounds: int, count: int) -> dict:
    pairs = []
    for index in range(rounds):
        order = (False, True) if index % 2 == 0 else (True, False)
        medians = {}
        for with_dashboard in order:
            db = folder / f"r{index}-{int(with_dashboard)}.db"
            medians[with_dashboard] = record(db, f"r{index}x{int(with_dashboard)}", count, with_dashboard)
        pairs.append((medians[False], medians[True]))
    ratios = [attached / alone for alone, attached in pairs]
    return {
        "rounds": rounds,
        "samples_per_session": count,
        "e2e_ms_headless_median": statistics.median(a for a, _ in pairs),
        "e2e_ms_attached_median": statistics.median(b for _, b in pairs),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "goal": 1.02,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--count", type=int, default=80, help="measured samples per session")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--previous", metavar="PYTHON",
                        help="also measure the dashboard's CPU with this interpreter's vlmtop (an older version)")
    parser.add_argument("--cpu-seconds", type=float, default=6.0, help="CPU measured over this long per case")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--attach", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--hold", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attach:
        attach(*args.attach)
        return 0
    if args.write:
        db, session_id, rate, seconds = args.write
        write_rows(db, session_id, float(rate), float(seconds))
        return 0
    if args.hold:
        hold_session(*args.hold)
        return 0
    if args.quick:
        args.rounds, args.count, args.seconds, args.cpu_seconds = 2, 8, 3.0, 0.5
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    result = {"lag": measure_lag(args.rate, args.seconds)}
    if shutil.which("tmux") and Path("/proc/self/stat").exists():
        result["cpu"] = measure_cpu(args.previous, 2.0 if args.quick else 5.0, args.cpu_seconds, args.quick)
    result["perturbation"] = measure_perturbation(args.rounds, args.count)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    lag, per = result["lag"], result["perturbation"]
    print("# dashboard cost")
    for row in result.get("cpu", {}).get("results", []):
        print(f"cpu {row['version']:>8} {row['scenario']:>6} {row['size']:>6}: {row['cpu_share']:6.1%} of a core")
    print(f"lag from commit to drawn frame at {lag['rate_rows_per_s']:.0f} rows/s ({lag['rows_written']} rows, "
          f"{lag['frames']} frames): median {lag['lag_ms_median']:.0f} ms, p99 {lag['lag_ms_p99']:.0f} ms, "
          f"max {lag['lag_ms_max']:.0f} ms (goal < 500 ms)")
    print(f"perturbation over {per['rounds']} interleaved rounds of {per['samples_per_session']} samples: "
          f"median e2e {per['e2e_ms_headless_median']:.2f} ms headless, {per['e2e_ms_attached_median']:.2f} ms "
          f"with the dashboard; ratio median {per['ratio_median']:.4f} "
          f"(min {per['ratio_min']:.4f}, max {per['ratio_max']:.4f}; goal <= 1.02)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
