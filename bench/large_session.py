"""Large sessions: listing, replay, column reads and exports of a 1M-sample session.

    python bench/large_session.py                 # builds /tmp/vlmtop-large.db once (1M rows)
    python bench/large_session.py --rows 100000   # a smaller one
    python bench/large_session.py --db FILE       # an existing file (its last session)

Prints figures; asserts nothing (issue 19's goals: sessions < 0.5 s, replay and column
reads < 300 MB, exports >= 100k rows/s). Each figure runs in a fresh process, so peak
memory (ru_maxrss) is that step's own.
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

STEPS = {
    "sessions": "from vlmtop.cli import main; main(['sessions', '--db', DB])",
    "replay open + 100 polls": (
        "from vlmtop.sessions.store import SessionStore\n"
        "from vlmtop.sessions.source import ReplaySource\n"
        "s = SessionStore.open(DB, readonly=True); sid = s.resolve('last')\n"
        "r = ReplaySource(s, sid, speed=1e5)\n"
        "for _ in range(100): r.poll()\n"
        "r.end(); r.poll()"
    ),
    "columns e2e/prefill/decode (compare's need)": (
        "from vlmtop.sessions.store import SessionStore\n"
        "s = SessionStore.open(DB, readonly=True); sid = s.resolve('last')\n"
        "c = s.sample_columns(sid, ('e2e_ms', 'prefill_ms', 'decode_ms', 'vision_ms'), measured_only=True)"
    ),
    **{
        f"export {fmt}": f"from vlmtop.cli import main; main(['export', 'last', '-f', '{fmt}', '-o', OUT + '.{fmt}', '--force', '--db', DB])"
        for fmt in ("csv", "jsonl", "parquet")
    },
    "export trace --from 0 --to 99999": (
        "from vlmtop.cli import main; main(['export', 'last', '-f', 'trace', '-o', OUT + '.json', "
        "'--force', '--from', '0', '--to', '99999', '--db', DB])"
    ),
}


def run_step(code: str, db: Path, out: str) -> tuple[float, float]:
    wrapper = (
        "import resource, sys, time, os\n"
        f"DB, OUT = {str(db)!r}, {out!r}\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "t = time.perf_counter()\n"
        f"exec({code!r})\n"
        "sys.stderr.write(f'{time.perf_counter() - t} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n"
    )
    ran = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, check=True)
    seconds, rss_kb = ran.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024


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
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "export")
        figures = {}
        for name, code in STEPS.items():
            seconds, mb = run_step(code, db, out)
            rate = ""
            if name.startswith("export") and "trace" not in name:
                rate = f"  {rows / seconds / 1000:.0f}k rows/s"
            elif "trace" in name:
                rate = f"  {min(rows, 100_000) / seconds / 1000:.0f}k rows/s"
            print(f"{name:45s} {seconds:7.2f} s  {mb:7.0f} MB peak{rate}")
            figures[name] = {"s": round(seconds, 3), "peak_mb": round(mb)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
