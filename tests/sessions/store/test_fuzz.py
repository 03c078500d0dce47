"""Property-based tests: random bytes, random JSON and random types in every column, and
random schema variations. No input makes a reader raise; every reading command exits 0
or 2 with one line. Kept to a few seconds (max_examples) for CI."""

from __future__ import annotations

import io
import math
import sqlite3
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from helpers_store import record_session
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vlmtop.cli import main
from vlmtop.sessions.playback import ReplaySource
from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.rows import SAMPLE_COLUMNS, clean_row, decode_sample, encode_sample
from vlmtop.sessions.store.validate import Unreadable

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
cells = (
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats()
    | st.text(max_size=30) | st.binary(max_size=30)
    | json_values.map(lambda v: __import__("json").dumps(v))
)  # fmt: skip


class NotUtf8(bytes):
    """Bytes to store as TEXT (CAST(? AS TEXT)): text that is not UTF-8, which SQLite keeps."""


# What a file may hold beyond what Python can bind: text cells that are not UTF-8.
file_cells = cells | st.binary(min_size=1, max_size=12).filter(lambda b: not _utf8(b)).map(NotUtf8)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(st.lists(cells, min_size=len(SAMPLE_COLUMNS), max_size=len(SAMPLE_COLUMNS)))
def test_decoding_any_sample_row_never_raises(row):
    unreadable = Unreadable()
    rec = decode_sample(SAMPLE_COLUMNS, tuple(row), unreadable)
    if rec is None:
        assert unreadable
        return
    for name in ("e2e_ms", "vision_ms", "started_at"):
        value = getattr(rec, name)
        assert value is None or (math.isfinite(value) and value >= 0)
    assert all(math.isfinite(ms) and ms >= 0 for ms in rec.decode_steps_ms)
    assert rec.status in ("ok", "error") and (rec.status == "error" or rec.e2e_ms is not None)


@FUZZ
@given(st.dictionaries(st.sampled_from(["id", "started_at", "status", "model", "settings", "pid",
                                         "hostname", "heartbeat_at", "sample_count", "error"]),
                       cells))  # fmt: skip
def test_cleaning_any_session_row_never_raises(row):
    clean_row("sessions", row, Unreadable())
    clean_row("events", row, Unreadable())
    clean_row("controls", row, Unreadable())


@FUZZ
@given(st.floats(min_value=0, max_value=1e6), st.lists(st.floats(min_value=0, max_value=1e6), max_size=20))
def test_valid_records_read_back_as_written(e2e, steps):
    rec = SampleRecord("s", 3, e2e_ms=e2e, decode_steps_ms=[round(x, 6) for x in steps])
    back = decode_sample(SAMPLE_COLUMNS, encode_sample(rec), Unreadable())
    assert back == rec


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _read_everything(db: Path, folder: Path) -> None:
    for argv in (["sessions"], ["sessions", "--json"],
                 ["export", "last", "-f", "csv", "-o", str(folder / "x.csv"), "--force"],
                 ["export", "last", "-f", "jsonl", "-o", str(folder / "x.jsonl"), "--force"],
                 ["export", "last", "-f", "trace", "-o", str(folder / "x.json"), "--force"],
                 ["compare", "last"], ["report", "last", "-o", str(folder / "r.html")],
                 ["backup", "-o", str(folder / "b.db"), "--force"]):  # fmt: skip
        code, err = _run([*argv, "--db", str(db)])
        assert code in (0, 2), err
        # One line; an unreadable note may come before a refusal.
        lines = [line for line in err.splitlines() if line.strip() and "unreadable" not in line]
        assert code == 0 or len(lines) == 1, err
    with SessionStore.open(db, readonly=True) as store:
        for info in store.sessions():
            source = ReplaySource(store, info.id, window=3)
            source.poll()
            source.end()
            source.poll()


@FUZZ
@given(st.sampled_from(SAMPLE_COLUMNS + ("settings", "versions", "status", "started_at", "pid")),
       st.lists(file_cells, min_size=1, max_size=3))  # fmt: skip
@example(column="started_at", values=[253_402_300_800])  # year 10000: no datetime holds it
def test_any_cell_in_a_file_leaves_every_reading_command_standing(column, values):
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "s.db"
        with SessionStore.open(db) as store:
            record_session(store, 3)
        conn = sqlite3.connect(db, isolation_level=None)
        table = "samples" if column in SAMPLE_COLUMNS and column not in ("status", "started_at") else "sessions"
        for rowid, value in enumerate(values, start=1):
            try:
                cell = "CAST(? AS TEXT)" if isinstance(value, NotUtf8) else "?"
                conn.execute(f"UPDATE {table} SET {column} = {cell} WHERE rowid = ?", (value, rowid))
            except sqlite3.IntegrityError:
                pass  # NOT NULL, a duplicate key: what SQLite itself refuses to store
        conn.close()
        _read_everything(db, Path(folder))


VARIANTS = [
    "ALTER TABLE samples DROP COLUMN decode_steps_ms",
    "ALTER TABLE samples ADD COLUMN surprise BLOB",
    "DROP TABLE events",
    "DROP TABLE controls",
    "ALTER TABLE sessions DROP COLUMN settings",
    "CREATE TABLE samples2 AS SELECT * FROM samples; DROP TABLE samples; "
    "ALTER TABLE samples2 RENAME TO samples",  # no primary key, no NOT NULL
    "INSERT INTO samples (session_id, seq, is_warmup, status) SELECT session_id, seq, 0, 'ok' FROM samples",
    "PRAGMA user_version = 1",
    "DROP TABLE samples",
]


@FUZZ
@given(st.lists(st.sampled_from(VARIANTS), min_size=1, max_size=3, unique=True), st.booleans())
def test_schema_variations_leave_every_reading_command_standing(changes, readonly):
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "s.db"
        with SessionStore.open(db) as store:
            record_session(store, 3)
        conn = sqlite3.connect(db, isolation_level=None)
        for change in changes:
            try:
                conn.executescript(change)
            except sqlite3.Error:
                pass  # a change that no longer applies after another one
        conn.close()
        if readonly:
            db.chmod(0o444)
        try:
            _read_everything(db, Path(folder))
        except AssertionError:
            raise
        except Exception as exc:  # only clean store errors may end a read
            from vlmtop.core.errors import VlmtopError

            assert isinstance(exc, VlmtopError), repr(exc)
