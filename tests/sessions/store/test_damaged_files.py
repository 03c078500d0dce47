"""Hostile content is data: every reading command works on a damaged file, shows what is
valid, and says in one line how much was unreadable. The files: tests/hostile/corpus.py."""

from __future__ import annotations

import csv
import json
import math

import pytest
from helpers_store import raw_sql, record_session
from hostile.corpus import DAMAGE, SAMPLES, build
from rich.console import Console

from vlmtop.cli import main
from vlmtop.cli.commands.sessions_export import sessions_table
from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.summary import summarize_session

READING = [
    ["sessions"],
    ["sessions", "--json"],
    *(["export", "{sid}", "-f", fmt, "-o", f"out.{fmt}"] for fmt in ("csv", "jsonl", "parquet", "trace", "sqlite")),
]


@pytest.mark.parametrize("name", DAMAGE)
def test_every_reading_command_works_on_a_hostile_file(name, tmp_path, monkeypatch, capsys):
    db, sid = build(tmp_path, name)
    monkeypatch.chdir(tmp_path)
    for argv in READING:
        argv = [arg.format(sid=sid) for arg in argv]
        assert main([*argv, "--db", str(db)]) == 0, (argv, capsys.readouterr().err)
        err = capsys.readouterr().err
        notes = [line for line in err.splitlines() if "unreadable" in line]
        assert len(notes) <= 1 and all(str(db) in line for line in notes), err
    # The export holds every row with a readable key, its bad values as missing.
    rows = list(csv.DictReader((tmp_path / "out.csv").open(newline="")))
    keyless = 3 if name == "rows-without-a-key" else 0
    assert len(rows) == SAMPLES - keyless
    for line in (tmp_path / "out.jsonl").read_text().splitlines():
        json.loads(line)
    json.loads((tmp_path / "out.trace").read_text())


# The reading commands that take two sessions, or write a copy: run on the damaged session
# and a good one beside it. compare may refuse in one line (too few measured samples).
READING_MORE = [
    ["compare", "{sid}", "{good}"],
    ["compare", "{good}", "{sid}"],
    ["compare", "{sid}"],
    ["report", "{sid}", "-o", "r.html"],
    ["backup", "-o", "b.db"],
    ["backup", "{sid}", "-o", "b1.db"],
]


@pytest.mark.parametrize("name", DAMAGE)
def test_compare_report_and_backup_work_on_a_hostile_file(name, tmp_path, monkeypatch, capsys):
    db, sid = build(tmp_path, name)
    with SessionStore.open(db) as store:
        good = record_session(store, SAMPLES)
    monkeypatch.chdir(tmp_path)
    for argv in READING_MORE:
        argv = [arg.format(sid=sid, good=good) for arg in argv]
        code = main([*argv, "--db", str(db)])
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err, (argv, err)
        lines = [line for line in err.splitlines() if line.strip()]
        # A refusal is one line (after the unreadable note, where there is one).
        assert code == 0 or (argv[0] in ("compare", "report") and len(lines) <= 2), (argv, err)
    assert (tmp_path / "r.html").stat().st_size > 0
    with SessionStore.open(tmp_path / "b.db", readonly=True) as copy:
        assert len(copy.sessions()) >= 2


def test_text_that_is_not_utf8_reads_as_unreadable_not_a_crash(tmp_path, capsys):
    db, sid = build(tmp_path, "bad-utf8")
    with SessionStore.open(db, readonly=True) as store:
        info = store.session(sid)
        assert info.model == "" and info.settings == {}
        rows = store.samples(sid)
        assert len(rows) == SAMPLES
        assert rows[1].sample_id == "" and rows[1].status == "error" and rows[1].decode_steps_ms == []
        assert rows[2].status == "error" and "cache_policy" in rows[2].error  # the fast path too
        assert rows[3].sample_id == "img-00003.png" and rows[3].status == "ok"
        assert store.column(sid, "sample_id")[1] == ""
        assert [e.detail for e in store.events(sid)][-1] == ""
    assert main(["export", sid, "-f", "csv", "-o", str(tmp_path / "x.csv"), "--db", str(db)]) == 0
    (note,) = [line for line in capsys.readouterr().err.splitlines() if "unreadable" in line]
    assert note.split()[1] == "3"  # the session row and samples 1 and 2
    rows = list(csv.DictReader((tmp_path / "x.csv").open(newline="")))
    assert rows[2]["cache_policy"] == "" and "b'" not in (tmp_path / "x.csv").read_text()


def test_statistics_columns_follow_the_codec(tmp_path):
    db, sid = build(tmp_path, "negative-times")
    with SessionStore.open(db) as store:
        raw_sql(store, "UPDATE samples SET new_tokens = -3, other_ms = -2.5, is_warmup = 2 WHERE seq = 3")
    with SessionStore.open(db, readonly=True) as store:
        e2e = store.column(sid, "e2e_ms")
        assert math.isnan(e2e[4]) and e2e[3] == 106.0  # -5 ms: no time, unreadable
        assert math.isnan(store.column(sid, "new_tokens")[3])
        assert math.isnan(store.column(sid, "is_warmup")[3])
        assert store.column(sid, "other_ms")[3] == -2.5  # e2e minus the stages may dip below 0
        assert "samples.e2e_ms" in store.unreadable.note(db) and "samples.new_tokens" in store.unreadable.note(db)
        assert all(v >= 0 for v in store.column(sid, "e2e_ms", measured_only=True) if v == v)
    db, sid = build(tmp_path, "rows-without-a-key")
    with SessionStore.open(db, readonly=True) as store:
        # Rows whose seq is 'third', -7 or 5.5 are no samples: not measured, not listed.
        assert list(store.column(sid, "seq")) == [0, 1, 2]
        assert list(store.column(sid, "seq", measured_only=True)) == [1, 2]
        assert len(store.column(sid, "sample_id")) == 3


def test_compare_reads_no_negative_time_and_says_so(tmp_path, capsys):
    db, sid = build(tmp_path, "negative-times")
    with SessionStore.open(db) as store:
        good = record_session(store, SAMPLES)
        # Most measured samples of A negative: the old medians came out negative.
        raw_sql(store, f"UPDATE samples SET vision_ms = -1000 WHERE session_id = '{sid}' AND seq IN (1, 2)")
    assert main(["compare", sid, good, "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    (note,) = [line for line in err.splitlines() if "unreadable" in line]
    assert "samples.e2e_ms" in note and "samples.vision_ms" in note
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():  # the table's rows: the first line naming each stage
        if line.strip()[:1].isalpha():
            rows.setdefault(line.split()[0], line.split())
    # e2e: seq 1-3 (seq 4 holds -5 ms); vision: seq 3 and 4. The old medians: 103, -496.
    assert rows["e2e"][1] == "104" and rows["vision"][1] == "9.00"
    assert not any(cell.startswith("-") for cell in rows["e2e"][1:3] + rows["vision"][1:3])


@pytest.mark.parametrize("name", DAMAGE)
def test_replay_attach_and_summaries_read_a_hostile_file(name, tmp_path):
    db, sid = build(tmp_path, name)
    with SessionStore.open(db, readonly=True) as store:
        for source in (ReplaySource(store, sid, window=4), LiveTail(store, sid, window=4)):
            for _ in range(3):
                source.poll()
        summarize_session(store, sid)
        store.controls(sid)
        store.events(sid)
        for column in ("e2e_ms", "decode_steps_ms", "spans", "status"):
            store.column(sid, column)


@pytest.mark.parametrize("name", ["json-that-does-not-parse", "wrong-types", "nan-and-infinity", "negative-times"])
def test_the_unreadable_line_counts_rows_and_names_the_columns(name, tmp_path, capsys):
    db, sid = build(tmp_path, name)
    assert main(["export", sid, "-f", "csv", "-o", str(tmp_path / "x.csv"), "--db", str(db)]) == 0
    (note,) = [line for line in capsys.readouterr().err.splitlines() if "unreadable" in line]
    assert note.startswith("vlmtop: ") and "shown as missing" in note
    assert " rows of " in note and str(db) in note


def test_bad_values_read_as_missing_and_good_ones_stay(tmp_path):
    db, sid = build(tmp_path, "wrong-types")
    with SessionStore.open(db, readonly=True) as store:
        rows = store.samples(sid)
        bad = rows[2]
        assert bad.decode_steps_ms == [] and bad.spans == [] and bad.e2e_ms is None
        assert bad.new_tokens is None and bad.status == "error"
        assert rows[3].e2e_ms == 106.0 and rows[3].decode_steps_ms  # untouched rows intact
        info = store.session(sid)
        assert info.settings == {} and info.pid is None and info.model == ""


def test_a_huge_array_is_never_held(tmp_path):
    db, sid = build(tmp_path, "huge-array")
    with SessionStore.open(db, readonly=True) as store:
        assert store.samples(sid)[1].decode_steps_ms == []
        assert store.column(sid, "decode_steps_ms")[1] == []
    db, sid = build(tmp_path, "cell-too-long-to-read")
    with SessionStore.open(db, readonly=True) as store:
        rec = store.samples(sid)[2]
        assert rec.spans == [] and rec.error == "unreadable in the session database: error, spans"


def test_user_text_is_never_markup(tmp_path, capsys):
    db, sid = build(tmp_path, "markup-in-user-text")
    assert main(["sessions", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "[bold red]cpu[/]" in out
    with SessionStore.open(db, readonly=True) as store:
        console = Console(record=True, width=200)
        console.print(sessions_table(store.sessions(), db))
    assert "models/exp[/old]" in console.export_text()


def test_an_error_quoting_a_stored_line_break_stays_one_line(tmp_path, capsys):
    """A stored value may hold any character Python splits lines on (NEL here): the error
    that quotes it is still one line (found by the fuzz test)."""
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        record_session(store, 3)
        raw_sql(store, "UPDATE samples SET cache_policy = char(133)")
    assert main(["compare", "last", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("vlmtop: error: nothing to compare"), err
