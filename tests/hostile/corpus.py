"""Hostile session databases: vlmtop files whose cells hold what no vlmtop wrote.

Built at test time (each file a few kB, the long-cell one a few MB for a moment), from
one good session, each file with one kind of damage. ``python tests/hostile/corpus.py
FOLDER`` writes them all, to try the commands by hand.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from helpers_store import record_session  # noqa: E402
from vlmtop.sessions.records import EventRecord  # noqa: E402
from vlmtop.sessions.store import SessionStore  # noqa: E402

SAMPLES = 6

# name -> SQL run on a file holding one good session (:sid) of SAMPLES samples.
DAMAGE: dict[str, str] = {
    "json-that-does-not-parse": """
        UPDATE samples SET decode_steps_ms = '[1, 2', spans = '{{', extra_ms = 'nope',
               knobs = '[' WHERE seq = 1;
        UPDATE sessions SET settings = '{"a":', versions = 'x';""",
    "wrong-types": """
        UPDATE samples SET decode_steps_ms = '7', spans = '[["vision"]]', extra_ms = '[1]',
               knobs = '"str"', e2e_ms = 'fast', new_tokens = 'many', is_warmup = 'yes',
               sample_id = x'00ff', status = 3 WHERE seq = 2;
        UPDATE sessions SET settings = '5', pid = 'abc', sample_count = 'lots',
               model = x'cafe';""",
    "nan-and-infinity": """
        UPDATE samples SET e2e_ms = 9e999, prefill_ms = -9e999,
               decode_steps_ms = '[NaN, Infinity]', spans = '[["vision", 0, 1e999]]'
               WHERE seq = 3;
        UPDATE sessions SET heartbeat_at = 9e999;""",
    "negative-times": """
        UPDATE samples SET e2e_ms = -5, started_at = -1e12, decode_steps_ms = '[-1]'
               WHERE seq = 4;
        UPDATE sessions SET started_at = -1e15, ended_at = -3;""",
    "huge-array": """
        UPDATE samples SET decode_steps_ms =
            '[' || substr(replace(printf('%.*c', 150000, 'x'), 'x', '0,'), 1, 299999) || ']'
            WHERE seq = 1;""",
    "cell-too-long-to-read": """
        UPDATE samples SET spans = printf('%.*c', 9000000, '['), error = printf('%.*c', 2000000, 'e')
            WHERE seq = 2;""",
    "markup-in-user-text": """
        UPDATE sessions SET model = 'models/exp[/old]', device = '[bold red]cpu[/]',
               error = '[/]', dtype = '[link=x]';
        UPDATE samples SET sample_id = 'missing[/x].png', error = '[/]' WHERE seq = 0;""",
    "rows-without-a-key": """
        UPDATE samples SET seq = 'third' WHERE seq = 3;
        UPDATE samples SET seq = -7 WHERE seq = 4;
        UPDATE samples SET seq = 5.5 WHERE seq = 5;""",
    "odd-session-rows": """
        INSERT INTO sessions (id, started_at, status, model, pid, hostname)
            VALUES (x'0102', 'yesterday', 'zombie', 5, -1, 7);
        INSERT INTO sessions (id, started_at, status, pid, hostname, heartbeat_at)
            VALUES ('runaway', 1e300, 'running', 'abc', 'elsewhere', 'never');
        UPDATE sessions SET status = 'zombie', measured_count = -4 WHERE id = :sid;""",
    "odd-events-and-controls": """
        INSERT INTO events (session_id, seq, kind, detail, at, value)
            VALUES (:sid, 'x', 5, x'00', 'noon', 3.5), (:sid, 1, 'policy', NULL, -1, NULL);
        INSERT INTO controls (session_id, kind, value, created_at, status)
            VALUES (:sid, 'cache', printf('%.*c', 2000000, 'v'), 'now', 'maybe');""",
    # Text that is not UTF-8 (SQLite stores what it is given): Python's sqlite3 would
    # raise "Could not decode to UTF-8" on reading it, whatever the command.
    "bad-utf8": """
        UPDATE sessions SET model = CAST(x'ff41' AS TEXT), hostname = CAST(x'c328' AS TEXT),
               settings = CAST(x'7bff7d' AS TEXT);
        UPDATE samples SET sample_id = CAST(x'ff41' AS TEXT), error = CAST(x'fe' AS TEXT),
               decode_steps_ms = CAST(x'5bff5d' AS TEXT) WHERE seq = 1;
        UPDATE samples SET cache_policy = CAST(x'80' AS TEXT) WHERE seq = 2;
        INSERT INTO events (session_id, seq, kind, detail, at, value)
            VALUES (:sid, 3, 'policy', CAST(x'ff' AS TEXT), 1.7e9, CAST(x'c0af' AS TEXT));
        INSERT INTO controls (session_id, kind, value, created_at, status)
            VALUES (:sid, CAST(x'ff' AS TEXT), CAST(x'ff' AS TEXT), 1.7e9, 'applied');""",
}


def _seeded(path: Path) -> str:
    with SessionStore.open(path) as store:
        sid = record_session(store, SAMPLES)
        store.write_event(EventRecord(sid, 2, "policy", "cache=keep", at=1.7e9 + 1, value="keep"))
    return sid


def _damage(path: Path, sql: str, sid: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement, {"sid": sid} if ":sid" in statement else {})
    finally:
        conn.close()


def build(folder: Path, name: str) -> tuple[Path, str]:
    """The hostile file ``name`` in ``folder``, and the id of its (damaged) session."""
    path = folder / f"{name}.db"
    sid = _seeded(path)
    _damage(path, DAMAGE[name], sid)
    return path, sid


def schema_variant(folder: Path, name: str, ddl: Callable[[sqlite3.Connection], None]) -> Path:
    path = folder / f"{name}.db"
    sid = _seeded(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        ddl(conn)
    finally:
        conn.close()
    return path, sid


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in DAMAGE:
        print(build(out, name)[0])
