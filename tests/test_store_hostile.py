"""Hostile content is data: every reading command works on a damaged file, shows what is
valid, and says in one line how much was unreadable. The files: tests/hostile/corpus.py."""

from __future__ import annotations

import csv
import json

import pytest
from rich.console import Console

from hostile.corpus import DAMAGE, SAMPLES, build
from vlmtop.cli import main
from vlmtop.cmd_store import sessions_table
from vlmtop.sessions.source import LiveTail, ReplaySource
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
