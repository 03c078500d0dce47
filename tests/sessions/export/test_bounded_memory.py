"""An export's memory stays bounded whatever its text cells hold: cells past the text
bound never reach Python (codec.guarded_sql). Peak RSS, measured in a fresh process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from helpers_store import record_session

from vlmtop.sessions.store import SessionStore

ROWS, CELL = 12, 7_900_000  # each error message just under the JSON bound (8 MB)

MEASURE = """
import resource, sys
from vlmtop.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(["export", "last", "-f", sys.argv[2], "-o", sys.argv[3], "--db", sys.argv[1]])
print(code, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_huge_error_cells_do_not_grow_an_exports_memory(tmp_path):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        record_session(store, ROWS)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"UPDATE samples SET error = printf('%.*c', {CELL}, 'e')")
    conn.close()
    for fmt in ("csv", "jsonl"):
        done = subprocess.run([sys.executable, "-c", MEASURE, str(db), fmt, str(tmp_path / f"x.{fmt}")],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        code, grown_mb = map(int, done.stdout.splitlines()[-1].split())
        assert code == 0, done.stderr
        # The cells total 95 MB: before, the page held them all (twice: bytes, then str).
        assert grown_mb < ROWS * CELL / 2**20 / 3, (fmt, grown_mb)
        assert "unreadable" in done.stderr and "samples.error" in done.stderr
