"""Large sessions: listing, replay, column reads and exports of a 1M-sample session.

    python bench/large_session.py                 # builds /tmp/vlmtop-large.db once (1M rows)
    python bench/large_session.py --rows 100000   # a smaller one
    python bench/large_session.py --db FILE       # an existing file (its last session)

Prints figures next to the large-session goals (sessions < 0.5 s, replay and column reads
< 300 MB, exports >= 100k rows/s); asserts nothing. Each step runs in a fresh process:
wall and CPU seconds (on a shared machine wall time includes waiting for a core) and
peak memory (VmHWM: that process's own).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (code run in a fresh process, goal for people, the rows it handles: for a rate)
STEPS = {
    "sessions": ("from vlmtop.cli import main; main(['sessions', '--db', DB])", "< 0.5 s", 0),
    "replay open + 100 polls": (
        "from vlmtop.sessions.store import SessionStore\n"
        "from vlmtop.sessions.playback import ReplaySource\n"
        "s = SessionStore.open(DB, readonly=True); sid = s.resolve('last')\n"
        "r = ReplaySource(s, sid, speed=1e5)\n"
        "for _ in range(100): r.poll()\n"
        "r.end(); r.poll()",
        "< 300 MB", 0,
    ),
    "vlmtop replay (the app: open, End, 2 s)": (
        "import asyncio\n"
        "from vlmtop.sessions.store import SessionStore\n"
        "from vlmtop.sessions.playback import ReplaySource\n"
        "from vlmtop.tui.app import VlmtopApp\n"
        "s = SessionStore.open(DB, create=False); sid = s.resolve('last')\n"
        "app = VlmtopApp(s, ReplaySource(s, sid), steerable=False)\n"
        "async def go():\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause(1.0); await pilot.press('end'); await pilot.pause(1.0)\n"
        "asyncio.run(go())",
        "< 300 MB", 0,
    ),
    "columns e2e/prefill/decode/vision (compare's need)": (
        "from vlmtop.sessions.store import SessionStore\n"
        "s = SessionStore.open(DB, readonly=True); sid = s.resolve('last')\n"
        "c = s.sample_columns(sid, ('e2e_ms', 'prefill_ms', 'decode_ms', 'vision_ms'), measured_only=True)",
        "< 300 MB", 0,
    ),
    **{
        f"export {fmt}": (
            f"from vlmtop.cli import main; main(['export', 'last', '-f', '{fmt}', '-o', OUT + '.{fmt}', '--force', '--db', DB])",
            ">= 100k rows/s, bounded memory", -1,
        )
        for fmt in ("csv", "jsonl", "parquet")
    },
    "export trace --from 0 --to 99999": (
        "from vlmtop.cli import main; main(['export', 'last', '-f', 'trace', '-o', OUT + '.json', "
        "'--force', '--from', '0', '--to', '99999', '--db', DB])",
        "a window: as fast at the end", 100_000,
    ),
    "export trace, the last 100000 (--from ROWS-100000)": (
        "from vlmtop.cli import main; main(['export', 'last', '-f', 'trace', '-o', OUT + '.json', "
        "'--force', '--from', str(max(0, ROWS - 100_000)), '--db', DB])",
        "as fast as the first", 100_000,
    ),
}


def run_step(code: str, db: Path, out: str, rows: int) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MB) of ``code`` in a fresh process. Peak is VmHWM, this
    process's own: ru_maxrss would carry over the parent's peak through fork and exec
    (the figures before this bench was fixed all read the builder's 255 MB)."""
    wrapper = (
        "import sys, time, os\n"
        f"DB, OUT, ROWS = {str(db)!r}, {out!r}, {rows}\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "_t0, _c0 = time.perf_counter(), time.process_time()\n"
        f"exec({code!r})\n"
        "hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "sys.stderr.write(f'{time.perf_counter() - _t0} {time.process_time() - _c0} {hwm}\\n')\n"
    )
    ran = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True)
    if ran.returncode != 0:
        raise SystemExit(f"step failed:\n{ran.stderr[-2000:]}")
    seconds, cpu, rss_kb = ran.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(cpu), int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    db = args.db or Path(tempfile.gettempdir()) / f"vlmtop-large-{args.rows}.db"
    if not db.exists():
        sys.path.insert(0, str(HERE))
        from store import build_big_session  # the bulk builder of bench/store.py

        start = time.perf_counter()
        build_big_session(db, args.rows)
        print(f"built {db} ({args.rows} rows) in {time.perf_counter() - start:.1f} s")
    rows = args.rows
    print(f"{'step':52s} {'wall':>8s} {'cpu':>8s} {'peak':>8s} {'rate (wall / cpu)':>20s}  goal")
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "export")
        figures = {}
        for name, (code, goal, handled) in STEPS.items():
            seconds, cpu, mb = run_step(code, db, out, rows)
            handled = rows if handled < 0 else min(rows, handled)
            rate = f"{handled / seconds / 1000:.0f}k / {handled / cpu / 1000:.0f}k rows/s" if handled else ""
            print(f"{name:52s} {seconds:7.2f}s {cpu:7.2f}s {mb:6.0f}MB {rate:>20s}  {goal}")
            figures[name] = {"s": round(seconds, 3), "cpu_s": round(cpu, 3), "peak_mb": round(mb)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
