"""The fast path reads exactly what the decoders read: a row the SQL check and the JSON
regexes pass is decoded without checking each cell, so they must never pass a value a
decoder would refuse, nor turn one into another (-0 into -0.0, an integer into a float).

Property-based: values near the edges of every column (numbers JSON writes oddly, long
digit runs, names with quotes, NaN, blobs), compared on a real SQLite file with the
cell-by-cell decoders (rows.decode_sample) and checks (recorded.VALID_RAW)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

from helpers_store import full_record
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.rows import SAMPLE_COLUMNS, SAMPLE_SELECT, decode_sample, encode_sample
from vlmtop.sessions.store.samples import VALID_RAW
from vlmtop.sessions.store.validate import Unreadable

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

numbers = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(lambda f: json.dumps(f)),
    st.sampled_from(["-0", "0", "-0.0", "1e5", "1E-7", "01", "1.", ".5", "1" * 17, "9" * 400, "0.1234567"]),
)
names = st.one_of(st.text(max_size=4).map(json.dumps), st.sampled_from(['"a\\"b"', '"\\u00e9"', '"dé"', "1"]))
steps = st.lists(numbers, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
spans = st.lists(st.tuples(names, numbers, numbers), max_size=3).map(
    lambda xs: "[" + ",".join(f"[{n},{a},{b}]" for n, a, b in xs) + "]"
)
objects = st.dictionaries(st.text(max_size=3), numbers, max_size=3).map(
    lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"
)
values = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=6), st.binary(max_size=4),
    st.sampled_from(["ok", "error", "null", "{}", "[]", 0, 1, 2, -0.0]), steps, spans, objects,
)  # fmt: skip


def _slow(db: Path, sid: str) -> tuple[list, list]:
    """Records and validated rows as the cell-by-cell path makes them."""
    conn = sqlite3.connect(db)
    try:
        select = ", ".join(SAMPLE_SELECT[n] for n in SAMPLE_COLUMNS)
        raw = conn.execute(f"SELECT {select} FROM samples WHERE session_id = ? ORDER BY seq", (sid,)).fetchall()
    finally:
        conn.close()
    records = [r for r in (decode_sample(SAMPLE_COLUMNS, row, Unreadable()) for row in raw) if r]
    rows = []
    for row in raw:
        bad = [n for n, v in zip(SAMPLE_COLUMNS, row) if not VALID_RAW[n](v)]
        if "seq" not in bad:
            rows.append((tuple(None if n in bad else v for n, v in zip(SAMPLE_COLUMNS, row)), bad))
    return records, rows


@FUZZ
@example([("spans", '[["a",-0,1]]')])  # json reads -0 as 0: the fast decoder must too
@example([("decode_steps_ms", "[" + "9" * 400 + "]")])  # beyond BIG: unreadable
@example([("decode_steps_ms", "[1e5,-0]")])
@example([("extra_ms", '{"a":-0,"b":1e999}')])
@example([("knobs", "[" * 600 + "]" * 600)])  # nested past what json.loads reads
@example([("is_warmup", 2), ("status", "OK")])
@given(st.lists(st.tuples(st.sampled_from(SAMPLE_COLUMNS[1:]), values), min_size=1, max_size=3))
def test_the_fast_path_reads_what_the_decoders_read(changes):
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "s.db"
        with SessionStore.open(db) as store:
            sid = store.create_session("m", "cpu", "float32", {})
            for seq in range(3):
                store.write_sample(full_record(sid, seq))
        conn = sqlite3.connect(db, isolation_level=None)
        for name, value in changes:
            try:
                conn.execute(f"UPDATE samples SET {name} = ? WHERE seq = 1", (value,))
            except sqlite3.IntegrityError:  # NOT NULL, or a seq another row holds
                pass
        conn.close()
        records, rows = _slow(db, sid)
        with SessionStore.open(db, readonly=True) as store:
            # repr, not ==: 0.0 == -0.0 and 1 == 1.0, but an export would show them apart
            assert repr(store.samples(sid)) == repr(records)
            assert repr(list(store.iter_rows(sid))) == repr(rows)


def test_what_vlmtop_writes_takes_the_fast_path(tmp_path):
    """The check is not so strict that real rows miss it: every written row passes."""
    with SessionStore.open(tmp_path / "s.db") as store:
        sid = store.create_session("m", "cpu", "float32", {})
        for seq in range(12):
            rec = full_record(sid, seq)
            rec.knobs = {"attn": "eager", "n": seq} if seq % 2 else None
            store.write_sample(rec)
        (page,) = list(store.iter_pages(sid))
        assert [row[-1] for row in page] == [1] * 12
        assert [row[:-1] for row in page] == [encode_sample(store.samples(sid)[s]) for s in range(12)]
