"""Every export format holds every sample, and a failed export writes nothing."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from helpers_store import full_record, new_session, raw_sql, record_session

from vlmtop.sessions.export import ExportError, choose_format, export_session, format_for
from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import SAMPLE_COLUMNS, SessionStore, UnknownSessionError

COUNT = 25
RECORDED_COUNT = COUNT  # the samples of the `recorded` fixture's session (conftest.py)
DB_FILES = ["s.db", "s.db-shm", "s.db-wal"]  # the open source database, in WAL mode


def expected(session_id: str) -> list[SampleRecord]:
    return [full_record(session_id, seq) for seq in range(COUNT)]


def test_sqlite_export_is_a_standalone_database_of_that_session(recorded, tmp_path):
    store, session_id = recorded
    out = tmp_path / "shared.db"
    assert export_session(store, session_id, "sqlite", out) == COUNT
    assert sorted(p.name for p in tmp_path.iterdir()) == [*DB_FILES, "shared.db"]
    with SessionStore.open(out, create=False) as copy:
        assert [s.id for s in copy.sessions()] == [session_id]
        assert copy.samples(session_id) == expected(session_id)
        assert copy.events(session_id) == store.events(session_id)
        assert copy.session(session_id) == store.session(session_id)
    assert sqlite3.connect(out).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_csv_export(recorded, tmp_path):
    store, session_id = recorded
    out = tmp_path / "s.csv"
    assert export_session(store, session_id, "csv", out) == COUNT
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(SAMPLE_COLUMNS)
    assert len(rows) == COUNT
    for row, rec in zip(rows, expected(session_id)):
        assert int(row["seq"]) == rec.seq and row["sample_id"] == rec.sample_id
        assert float(row["prefill_ms"]) == rec.prefill_ms
        assert json.loads(row["decode_steps_ms"]) == rec.decode_steps_ms
        assert [tuple(s) for s in json.loads(row["spans"])] == rec.spans
        assert row["error"] == (rec.error or "")
        assert row["is_warmup"] == str(int(rec.is_warmup))


def test_jsonl_export(recorded, tmp_path):
    store, session_id = recorded
    out = tmp_path / "s.jsonl"
    assert export_session(store, session_id, "jsonl", out) == COUNT
    objects = [json.loads(line) for line in out.read_text().splitlines()]
    records = [
        SampleRecord(**{**o, "spans": [tuple(s) for s in o["spans"]]}) for o in objects
    ]
    assert records == expected(session_id)
    assert isinstance(objects[0]["decode_steps_ms"], list) and objects[0]["is_warmup"] is True


def test_parquet_export(recorded, tmp_path):
    store, session_id = recorded
    out = tmp_path / "s.parquet"
    assert export_session(store, session_id, "parquet", out) == COUNT
    table = pq.read_table(out)
    assert table.column_names == list(SAMPLE_COLUMNS)
    rows = table.to_pylist()
    for row, rec in zip(rows, expected(session_id), strict=True):
        spans = [(s["stage"], s["start_ms"], s["end_ms"]) for s in row.pop("spans")]
        extra = dict(row.pop("extra_ms"))  # a parquet map reads back as (key, value) pairs
        knobs = json.loads(row.pop("knobs")) if row["knobs"] is not None else row.pop("knobs")  # JSON text
        assert SampleRecord(**row, spans=spans, extra_ms=extra, knobs=knobs) == rec
    assert str(table.schema.field("decode_steps_ms").type) == "list<element: double>"
    assert json.loads(table.schema.metadata[b"vlmtop.session"])["id"] == session_id


def test_trace_export(recorded, tmp_path):
    store, session_id = recorded
    out = tmp_path / "s.json"
    assert export_session(store, session_id, "trace", out) == COUNT
    trace = json.loads(out.read_text())
    events = trace["traceEvents"]
    records = expected(session_id)
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == sum(len(r.spans) + 1 for r in records)  # spans + one e2e each
    tracks = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    assert set(tracks) == {"e2e", "vision", "projector", "prefill", "decode"}
    assert len(set(tracks.values())) == 5
    by_seq = [e for e in complete if e["args"]["seq"] == 3]
    rec = records[3]
    e2e = next(e for e in by_seq if e["name"] == "e2e")
    assert e2e["tid"] == tracks["e2e"]
    assert e2e["ts"] == pytest.approx(rec.started_at * 1e6, abs=1)
    assert e2e["dur"] == pytest.approx(rec.e2e_ms * 1e3)
    prefill = next(e for e in by_seq if e["name"] == "prefill")
    assert prefill["tid"] == tracks["prefill"]
    assert prefill["ts"] == pytest.approx((rec.started_at + rec.spans[2][1] / 1e3) * 1e6, abs=1)
    decode = [e["name"] for e in by_seq if e["tid"] == tracks["decode"]]
    assert decode == ["decode[0]", "decode[1]", "decode[2]"]
    errors = [e for e in events if e["name"] == "error"]
    assert [e["args"]["seq"] for e in errors] == [r.seq for r in records if r.status == "error"]


def test_trace_gives_user_declared_stages_their_own_track(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        session_id = new_session(store)
        spans = [("vision_backbone", 0.0, 2.0)]  # a user-declared stage
        store.write_sample(SampleRecord(session_id, 0, e2e_ms=3.0, spans=spans))
        export_session(store, session_id, "trace", tmp_path / "t.json")
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    track = next(e["tid"] for e in events if e.get("args", {}).get("name") == "vision_backbone")
    assert [e["tid"] for e in events if e["name"] == "vision_backbone"] == [track]


def test_format_from_file_name():
    names = ("a.db", "b.CSV", "c.jsonl", "d.parquet", "e.json", "f.txt")
    assert [format_for(n) for n in names] == ["sqlite", "csv", "jsonl", "parquet", "trace", None]


# --- failures leave nothing behind --------------------------------------------------------


def test_missing_pyarrow_is_one_clear_line_and_keeps_the_old_file(recorded, tmp_path, monkeypatch):
    store, session_id = recorded
    out = tmp_path / "s.parquet"
    out.write_text("previous export")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an install without it looks like
    with pytest.raises(ExportError, match=r"pip install 'vlmtop\[parquet\]'"):
        export_session(store, session_id, "parquet", out)
    assert out.read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == [*DB_FILES, "s.parquet"]


def test_a_hostile_span_is_exported_as_missing_not_a_crash(recorded, tmp_path):
    store, session_id = recorded
    # A span that is not a (stage, start, end) triple once broke the trace writer mid-file.
    bad = new_session(store)
    store.write_sample(SampleRecord(bad, 0, e2e_ms=1.0))
    raw_sql(store, "UPDATE samples SET spans = '[[\"vision\"]]' WHERE session_id = ?", (bad,))
    assert export_session(store, bad, "trace", tmp_path / "t.json") == 1
    assert store.unreadable_note() and "samples.spans x1" in store.unreadable_note()
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert [e["name"] for e in events if e["ph"] == "X"] == ["e2e"]


def test_bad_requests_write_nothing(recorded, tmp_path):
    store, session_id = recorded
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnknownSessionError):
        export_session(store, "nosuch", "csv", tmp_path / "x.csv")
    with pytest.raises(ExportError, match="unknown export format"):
        export_session(store, session_id, "xlsx", tmp_path / "x.xlsx")
    with pytest.raises(ExportError, match="does not exist"):
        export_session(store, session_id, "csv", tmp_path / "no" / "x.csv")
    with pytest.raises(ExportError, match="database being exported"):
        export_session(store, session_id, "sqlite", tmp_path / "s.db")
    with pytest.raises(ExportError, match="folder"):
        export_session(store, session_id, "csv", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert store.session(session_id).sample_count == COUNT


def test_sqlite_export_never_lands_beside_a_live_write_ahead_log(recorded, tmp_path):
    store, session_id = recorded
    other = tmp_path / "other.db"
    with SessionStore.open(other) as live:  # a database in use: its -wal exists
        record_session(live, 2)
        before = other.read_bytes()
        with pytest.raises(ExportError, match="in use"):
            export_session(store, session_id, "sqlite", other)
        assert other.read_bytes() == before


# --- conventions: stdout, formats from names, rounding, switches on the timeline ------------


def test_csv_floats_are_rounded_to_the_clocks_resolution(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        session_id = new_session(store)
        noisy = 2.5632490000000008  # what 2.563249 becomes after float arithmetic
        store.write_sample(SampleRecord(session_id, 0, prefill_ms=noisy, other_ms=1 / 3,
                                        decode_steps_ms=[noisy, 0.1 + 0.2]))  # fmt: skip
        export_session(store, session_id, "csv", tmp_path / "s.csv")
    (row,) = csv.DictReader((tmp_path / "s.csv").open(newline=""))
    assert row["prefill_ms"] == "2.563249" and row["other_ms"] == "0.333333"
    assert row["decode_steps_ms"] == "[2.563249,0.3]"


def test_trace_marks_policy_and_knob_switches_as_instants(recorded, tmp_path):
    store, session_id = recorded
    store.write_event(EventRecord(session_id, 10, "policy", "cache=keep", at=1_700_000_002.5, value="keep"))
    store.write_event(EventRecord(session_id, 12, "knob", "attn=eager", at=1_700_000_003.0, value="eager"))
    out = tmp_path / "s.trace.json"
    export_session(store, session_id, "trace", out)
    instants = [e for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "i" and e["s"] == "g"]
    assert [(e["name"], e["args"]["seq"], e["args"]["value"]) for e in instants] == [
        ("policy: cache=keep", 10, "keep"), ("knob: attn=eager", 12, "eager"),
    ]  # fmt: skip
    assert instants[0]["ts"] == pytest.approx(1_700_000_002.5e6)


def test_trace_e2e_spans_carry_each_samples_arm_and_knobs(tmp_path):
    from recorded_arms_session import ARMS, ARMS_SESSION_ID, record_arms_session

    store = record_arms_session(tmp_path / "arms.db", blocks=3)
    rows = {r.seq: r for r in store.samples(ARMS_SESSION_ID)}
    out = tmp_path / "arms.trace.json"
    export_session(store, ARMS_SESSION_ID, "trace", out)
    store.close()
    e2e = [e for e in json.loads(out.read_text())["traceEvents"] if e.get("name") == "e2e"]
    assert len(e2e) == len(rows) and {e["args"]["arm"] for e in e2e} == set(ARMS)
    for event in e2e:  # a trace viewer can filter the spans of one arm, with its settings
        row = rows[event["args"]["seq"]]
        assert event["args"]["arm"] == row.arm and event["args"]["knobs"] == row.knobs
        assert event["args"]["knobs"]["max_new_tokens"] == int(row.arm.split("=")[1])


def test_format_follows_the_name_and_a_contradiction_is_an_error():
    assert choose_format("run.trace.json", None) == "trace"
    assert choose_format("run.db", "sqlite") == "sqlite"
    assert choose_format("run.out", "csv") == "csv"  # a name that implies nothing
    with pytest.raises(ExportError, match="names a trace file but --format is csv"):
        choose_format("results.json", "csv")
    with pytest.raises(ExportError, match="needs --format"):
        choose_format("-", None)


def test_dash_writes_to_standard_output(recorded, tmp_path):
    store, session_id = recorded
    ran = subprocess.run(
        [sys.executable, "-m", "vlmtop", "export", session_id, "-o", "-", "-f", "csv", "--db", str(store.path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    rows = list(csv.DictReader(io.StringIO(ran.stdout)))
    assert len(rows) == COUNT and rows[3]["seq"] == "3"
    assert f"wrote {COUNT} samples" in ran.stderr and "standard output" in ran.stderr
    assert not (tmp_path / "-").exists()
    ran = subprocess.run(
        [sys.executable, "-m", "vlmtop", "export", session_id, "-o", "-", "-f", "sqlite", "--db", str(store.path)],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0
    (tmp_path / "piped.db").write_bytes(ran.stdout)
    with SessionStore.open(tmp_path / "piped.db", readonly=True) as copy:
        assert copy.samples(session_id) == expected(session_id)


def test_export_pages_hold_a_bounded_amount_of_text(tmp_path):
    """A page is cut by its text as well as its rows: 5000 rows of long decodes (each cell
    within its bound) would otherwise sit in memory at once. Every row still comes, in order."""
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        sid = record_session(store, 20)
        raw_sql(store, "UPDATE samples SET error = printf('%.*c', 1000, 'e')")
        seq_at = store.columns.index("seq")
        by_text = list(store.iter_pages(sid, page=5000, page_chars=2500))
        one_each = list(store.iter_pages(sid, page=5000, page_chars=10))  # a row past the budget alone
        whole = list(store.iter_pages(sid, page=5000))
        windowed = list(store.iter_pages(sid, page=5000, lo=5, hi=12, page_chars=2500))
    assert 1 < max(map(len, by_text)) <= 3 and [r[seq_at] for p in by_text for r in p] == list(range(20))
    assert [len(p) for p in one_each] == [1] * 20
    assert [len(p) for p in whole] == [20]
    assert [r[seq_at] for p in windowed for r in p] == list(range(5, 13))
